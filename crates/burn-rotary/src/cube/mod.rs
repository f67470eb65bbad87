//! The CubeCL backends (CUDA, wgpu, ...), with and without fusion, run RoPE through the fused
//! kernel of [`rope_kernel`], launched by [`launch`].

mod compat;
mod fusion;
pub mod launch;
mod launch_shape;
// One text for both Burn lines, whose workspaces format in different styles: see its docs.
#[rustfmt::skip]
mod rope_kernel;

use burn::tensor::backend::DeviceOps;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::server::ComputeServer;

use crate::backend::RopeBackend;
use crate::spec::{PositionsPrimitive, RopeSpec};
use launch::{launch_rope, KernelPositions};

fn kernel_positions<R, F, I, BT>(
    positions: PositionsPrimitive<CubeBackend<R, F, I, BT>>,
) -> KernelPositions<R>
where
    R: CubeRuntime,
    R::Server: ComputeServer,
    R::Device: DeviceOps,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    match positions {
        PositionsPrimitive::Offset(o) => KernelPositions::Offset(o),
        PositionsPrimitive::Offsets(t) => KernelPositions::Offsets(t),
        PositionsPrimitive::Ids(t) => KernelPositions::Ids(t),
        PositionsPrimitive::Axes { ids, pair_axes } => KernelPositions::Axes { ids, pair_axes },
    }
}

impl<R, F, I, BT> RopeBackend for CubeBackend<R, F, I, BT>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    R::Server: ComputeServer,
    R::Device: DeviceOps,
    BT: BoolElement,
{
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        launch_rope(x, None, table, kernel_positions(positions), spec).0
    }

    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (q, k) = launch_rope(q, Some(k), table, kernel_positions(positions), spec);
        (q, k.expect("k was given"))
    }
}
