#![warn(missing_docs)]
//! Rotary position embeddings (RoPE) for [Burn](https://burn.dev), with every context-extension
//! scaling HuggingFace transformers implements, matching its numbers.
//!
//! - [`RopeConfig`] / [`Rope`]: the config and the Burn module (both layouts, partial rotary, GQA,
//!   KV-cache offsets, position ids, `[b, h, s, d]` and `[b, s, h, d]` inputs);
//! - [`RopeScaling`]: linear, NTK-aware, dynamic NTK, YaRN, Llama 3, LongRoPE and proportional;
//! - [`RopeConfig::from_hf_json`]: read a HuggingFace `config.json` with one RoPE setting;
//! - [`ModelRopeConfig`] / [`ModelRope`]: the RoPE of every decoder layer of a HuggingFace model
//!   (per-layer types, NoPE layers, M-RoPE), one module per distinct setting;
//! - [`PositionAxes`] and [`Positions::axes`]: several coordinate axes per token (Qwen2-VL's
//!   M-RoPE, with [`MropePositions`] for its position ids; images and video with
//!   [`RopeConfig::vision_2d`], [`RopeConfig::flux`], [`RopeConfig::wan`],
//!   [`RopeConfig::per_axis`] and [`GridCoords`]);
//! - [`RopeBackend`]: the backend extension trait, implemented for every backend Burn 0.21 ships
//!   (a model struct holds a `Rope<B>` under `B: Backend`; the `impl` that runs it needs
//!   `B: RopeBackend`, and a training function `B: AutodiffBackend + RopeBackend,
//!   B::InnerBackend: RopeBackend`).
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `ndarray` (default) | `NdArray`'s direct CPU loop |
//! | `cube` | the fused CubeCL kernel for every `CubeBackend` runtime (wgpu, Vulkan, WebGPU, Metal, CUDA, ROCm, CPU) and their `Fusion` |
//! | `wgpu`, `cuda` | `cube` plus Burn's `Wgpu` / `Cuda` backend types |
//! | `candle`, `flex`, `router`, `tch` | `RopeBackend` for `Candle`, `Flex`, `BackendRouter` (`Router`, `RemoteBackend`), `LibTorch`: the tensor-op path |
//!
//! `Autodiff<B>` of any of them runs `B`'s path forward and backward.
//!
//! The configs, scaling rules and `config.json` reading come from the Burn-free core crate,
//! [`burn_rotary_core`] (shared with the Burn 0.22 line) and are re-exported here; the `init`
//! of a config is an extension trait, so start with `use burn_rotary::prelude::*;`.
//!
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Distribution, Tensor};
//! use burn_rotary::prelude::*;
//!
//! let device = Default::default();
//! let rope = RopeConfig::new(64)
//!     .with_scaling(RopeScaling::Linear { factor: 2.0 })
//!     .init::<NdArray>(&device);
//! let x = Tensor::<NdArray, 4>::random([1, 4, 10, 64], Distribution::Default, &device);
//! let y = rope.forward(x, 0);
//! assert_eq!(y.dims(), [1, 4, 10, 64]);
//! ```

mod autodiff;
mod backend;
#[cfg(feature = "cube")]
mod cube;
mod hf_model;
mod module;
#[cfg(feature = "ndarray")]
mod ndarray;
mod positions;
pub mod reference;
mod spec;
pub mod table;
mod tensor_op_backends;

pub use backend::RopeBackend;
pub use burn_rotary_core::{
    default_inv_freq, AxisFrequencies, AxisOrder, Frequencies, FrequencyContext, GridCoords,
    LayerRope, Llama3Scaling, LongRopeScaling, ModelRopeConfig, MropePositions, MropeSpan,
    PositionAxes, ProportionalScaling, RopeConfig, RopeError, RopeLayout, RopeScaling, RopeSpec,
    SeqLenRule, VisionGrid, YarnScaling, MAX_AXES, MAX_HEAD_DIM, MAX_HOST_IDS, MAX_TABLE_VALUES,
};
pub use hf_model::{ModelRope, ModelRopeConfigExt};
pub use module::{Rope, RopeConfigExt};
pub use positions::{GridCoordsExt, Positions};
pub use spec::PositionsPrimitive;

/// The types and extension traits of everyday use: `use burn_rotary::prelude::*;` brings the
/// `init` / `try_init` of [`RopeConfig`] and [`ModelRopeConfig`] and
/// [`GridCoords::positions`](GridCoordsExt::positions) in scope.
pub mod prelude {
    pub use crate::{
        AxisOrder, GridCoords, GridCoordsExt, ModelRope, ModelRopeConfig, ModelRopeConfigExt,
        PositionAxes, Positions, Rope, RopeBackend, RopeConfig, RopeConfigExt, RopeLayout,
        RopeScaling,
    };
}

mod sealed {
    /// The extension traits are implemented for the core crate's types only.
    pub trait Sealed {}
    impl Sealed for crate::RopeConfig {}
    impl Sealed for crate::ModelRopeConfig {}
    impl Sealed for crate::GridCoords {}
}
