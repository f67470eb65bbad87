//! The CubeCL backends (CUDA, wgpu, ...), with and without fusion, run RoPE through the fused
//! kernel of [`kernel`].

mod fusion;
pub mod kernel;
mod launch_shape;

use burn::tensor::backend::DeviceOps;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::server::ComputeServer;

use crate::backend::RopeBackend;
use crate::spec::{PositionsPrimitive, RopeSpec};
use kernel::{launch_rope, KernelPositions};

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
