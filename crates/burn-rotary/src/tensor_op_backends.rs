//! Burn 0.21's backends without a RoPE path of their own run [`RopeBackend`]'s default, the plain
//! tensor ops of [`reference`](crate::reference): one impl each, behind the crate feature that
//! brings in the backend.
//!
//! | backend type | crate feature | path |
//! |---|---|---|
//! | `NdArray` | `ndarray` (default) | direct CPU loop |
//! | `CubeBackend<R, ..>`: `Wgpu`, `Vulkan`, `WebGpu`, `Metal`, `Cuda`, `Rocm`, `Cpu` | `cube` (`wgpu`, `cuda`) | fused kernel |
//! | `Fusion<B>` of a CubeCL backend | `cube` | fused kernel, a fusion barrier |
//! | `Autodiff<B>` | always | `B`'s path both ways |
//! | `Candle` | `candle` | tensor ops |
//! | `Flex` | `flex` | tensor ops |
//! | `BackendRouter<C>`: `Router<..>`, `RemoteBackend` | `router` | tensor ops |
//! | `LibTorch` | `tch` | tensor ops |

#[cfg(any(
    feature = "candle",
    feature = "flex",
    feature = "router",
    feature = "tch"
))]
use crate::backend::RopeBackend;

// Burn 0.21 deprecates Candle (for burn-cubecl, burn-flex, burn-tch) but still ships it.
#[cfg(feature = "candle")]
#[allow(deprecated)]
impl<F, I> RopeBackend for burn::backend::Candle<F, I>
where
    F: burn::backend::candle::FloatCandleElement,
    I: burn::backend::candle::IntCandleElement,
{
}

#[cfg(feature = "flex")]
impl RopeBackend for burn::backend::Flex {}

#[cfg(feature = "router")]
impl<C: burn::backend::router::RunnerChannel> RopeBackend
    for burn::backend::router::BackendRouter<C>
{
}

#[cfg(feature = "tch")]
impl<E: burn::backend::libtorch::TchElement> RopeBackend for burn::backend::LibTorch<E> {}
