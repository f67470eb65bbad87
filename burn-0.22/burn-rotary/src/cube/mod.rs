//! The CubeCL backend (CUDA, wgpu, and every other CubeCL runtime) runs RoPE through one fused
//! kernel. Its `Fusion` wrapper gets [`RopeOps`] from the `#[backend_extension]` macro: the
//! kernel is then one opaque custom operation on the fusion stream.

mod compat;
mod launch;
mod launch_shape;
// One text for both Burn lines (a link to the 0.21 crate's file), whose workspaces format in
// different styles: see its docs.
#[rustfmt::skip]
mod rope_kernel;

use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;

use crate::ops::{PositionsPrimitive, RopeOps};
use crate::spec::RopeSpec;
use launch::{KernelPositions, launch_rope};

fn kernel_positions(positions: PositionsPrimitive<CubeBackend>) -> KernelPositions {
    match positions {
        PositionsPrimitive::Offset(o) => KernelPositions::Offset(o),
        PositionsPrimitive::Offsets(t) => KernelPositions::Offsets(t),
        PositionsPrimitive::Ids(t) => KernelPositions::Ids(t),
        PositionsPrimitive::Axes { ids, pair_axes } => KernelPositions::Axes { ids, pair_axes },
    }
}

impl RopeOps for CubeBackend {
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
