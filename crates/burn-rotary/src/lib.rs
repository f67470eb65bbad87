#![warn(missing_docs)]
//! Rotary position embeddings (RoPE) for [Burn](https://burn.dev), with every context-extension
//! scaling HuggingFace transformers implements, matching its numbers.
//!
//! - [`RopeConfig`] / [`Rope`]: the Burn config and module (both layouts, partial rotary, GQA,
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
//! ```
//! use burn::backend::NdArray;
//! use burn::tensor::{Distribution, Tensor};
//! use burn_rotary::{RopeConfig, RopeScaling};
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
mod axes;
mod backend;
mod config;
#[cfg(feature = "cube")]
mod cube;
mod error;
mod hf;
mod hf_model;
mod hf_params;
mod host_ids;
mod module;
mod mrope_ids;
mod nd;
#[cfg(feature = "ndarray")]
mod ndarray;
mod positions;
pub mod reference;
mod scaling;
mod spec;
pub mod table;
mod tensor_op_backends;

pub use axes::{PositionAxes, MAX_AXES};
pub use backend::RopeBackend;
pub use config::{RopeConfig, RopeLayout, MAX_HEAD_DIM, MAX_TABLE_VALUES};
pub use error::RopeError;
pub use hf_model::{LayerRope, ModelRope, ModelRopeConfig};
pub use host_ids::MAX_HOST_IDS;
pub use module::Rope;
pub use mrope_ids::{MropePositions, MropeSpan, VisionGrid};
pub use nd::{AxisFrequencies, GridCoords};
pub use positions::Positions;
pub use scaling::{
    default_inv_freq, Frequencies, FrequencyContext, Llama3Scaling, LongRopeScaling,
    ProportionalScaling, RopeScaling, SeqLenRule, YarnScaling,
};
pub use spec::{AxisOrder, PositionsPrimitive, RopeSpec};
