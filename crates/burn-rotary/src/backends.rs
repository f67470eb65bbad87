//! Backends that run RoPE through the default tensor-op body of [`RopeBackend`].
//!
//! Any other Burn backend is added the same way, with one line.

#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod cube {
    use burn::tensor::backend::Backend;
    use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
    use burn_fusion::{Fusion, FusionBackend};

    use crate::RopeBackend;

    impl<R, F, I, BT> RopeBackend for CubeBackend<R, F, I, BT>
    where
        R: CubeRuntime,
        F: FloatElement,
        I: IntElement,
        BT: BoolElement,
        Self: Backend,
    {
    }

    impl<B: FusionBackend> RopeBackend for Fusion<B> {}
}
