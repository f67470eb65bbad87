#![warn(missing_docs)]
//! Rotary position embeddings (RoPE) for [Burn](https://burn.dev) 0.22, with every
//! context-extension scaling HuggingFace transformers implements, matching its numbers.
//!
//! The Burn 0.22 line of burn-rotary (0.2.x); the Burn 0.21 line is burn-rotary 0.1.x. Both
//! build on the Burn-free core crate [`burn_rotary_core`] (configs, scaling rules, `config.json`
//! reading, position axes), re-exported here.
//!
//! - [`RopeConfig`] / [`Rope`]: the config and the Burn module (both layouts, partial rotary,
//!   GQA, KV-cache offsets, position ids, `[b, h, s, d]` and `[b, s, h, d]` inputs);
//! - [`RopeScaling`]: linear, NTK-aware, dynamic NTK, YaRN, Llama 3, LongRoPE and proportional;
//! - [`RopeConfig::from_hf_json`], [`ModelRopeConfig`] / [`ModelRope`]: a HuggingFace
//!   `config.json`, one setting or every decoder layer (per-layer types, NoPE layers, M-RoPE);
//! - [`PositionAxes`] and [`Positions::axes`]: several coordinate axes per token (M-RoPE,
//!   images and video with [`GridCoords`]);
//! - [`RopeOps`]: the backend extension the module runs through — a fused CubeCL kernel on
//!   every CubeCL device (fused under Fusion), a direct loop on Flex, forward and backward; any
//!   other device runs plain tensor ops ([`reference`](mod@reference)).
//!
//! The backend is chosen at run time by the [`Device`](burn::tensor::Device) (Burn 0.22 has no
//! backend type parameter): a model holds a `Rope`, and `init(&device)` puts its tables there.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use burn_rotary::prelude::*;
//!
//! let device = Device::flex();
//! let rope = RopeConfig::new(64)
//!     .with_scaling(RopeScaling::Linear { factor: 2.0 })
//!     .init(&device);
//! let x = Tensor::<4>::random([1, 4, 10, 64], Distribution::Default, &device);
//! let y = rope.forward(x, 0);
//! assert_eq!(y.dims(), [1, 4, 10, 64]);
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `flex` (default) | Flex's direct CPU loop |
//! | `wgpu`, `cuda`, `rocm`, `metal`, `vulkan` | that CubeCL runtime and the fused kernel on it |
//!
//! A device whose backend has no fast path here (NdArray, LibTorch, Remote, ...) runs the
//! tensor-op path: correct everywhere, differentiable by Burn's autodiff.

mod autodiff;
#[cfg(feature = "cube")]
mod cube;
#[cfg(feature = "flex")]
mod flex;
mod hf_model;
mod module;
mod ops;
mod positions;
pub mod reference;
mod spec;
pub mod table;

pub use burn_rotary_core::{
    AxisFrequencies, AxisOrder, Frequencies, FrequencyContext, GridCoords, LayerRope,
    Llama3Scaling, LongRopeScaling, MAX_AXES, MAX_HEAD_DIM, MAX_HOST_IDS, MAX_TABLE_VALUES,
    ModelRopeConfig, MropePositions, MropeSpan, PositionAxes, ProportionalScaling, RopeConfig,
    RopeError, RopeLayout, RopeScaling, RopeSpec, SeqLenRule, VisionGrid, YarnScaling,
    default_inv_freq,
};
pub use hf_model::{ModelRope, ModelRopeConfigExt};
pub use module::{Rope, RopeConfigExt};
pub use ops::{PositionsPrimitive, RopeOps};
pub use positions::{GridCoordsExt, Positions};
pub use spec::PositionTensors;

/// The types and extension traits of everyday use: `use burn_rotary::prelude::*;` brings the
/// `init` / `try_init` of [`RopeConfig`] and [`ModelRopeConfig`] and
/// [`GridCoords::positions`](GridCoordsExt::positions) in scope.
pub mod prelude {
    pub use crate::{
        AxisOrder, GridCoords, GridCoordsExt, ModelRope, ModelRopeConfig, ModelRopeConfigExt,
        PositionAxes, Positions, Rope, RopeConfig, RopeConfigExt, RopeLayout, RopeScaling,
    };
}

mod sealed {
    /// The extension traits are implemented for the core crate's types only.
    pub trait Sealed {}
    impl Sealed for crate::RopeConfig {}
    impl Sealed for crate::ModelRopeConfig {}
    impl Sealed for crate::GridCoords {}
}
