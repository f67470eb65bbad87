#![warn(missing_docs)]
//! The Burn-free core of [burn-rotary](https://docs.rs/burn-rotary): everything about rotary
//! position embeddings that needs no tensors. Both burn-rotary lines (Burn 0.21 and Burn 0.22)
//! build on it and re-export it, so a config, a scaling rule or a `config.json` reading is
//! written once and gives the same numbers on both.
//!
//! - [`RopeConfig`]: θ, head and rotary dims, layout, scaling, positions bound, custom
//!   frequencies and position axes, validated with errors naming the field;
//! - [`RopeScaling`]: linear, NTK-aware, dynamic NTK, YaRN, Llama 3, LongRoPE and proportional,
//!   matching HuggingFace transformers' numbers;
//! - [`RopeConfig::from_hf_json`] and [`ModelRopeConfig`]: a model's `config.json` (one setting,
//!   or every decoder layer: per-layer types, NoPE layers, M-RoPE);
//! - [`PositionAxes`], [`MropePositions`], [`GridCoords`]: positions with several coordinate axes;
//! - [`table`]: the angle tables, as plain `f32` values.
//!
//! ```
//! use burn_rotary_core::{RopeConfig, RopeScaling};
//!
//! let config = RopeConfig::new(64).with_scaling(RopeScaling::Linear { factor: 2.0 });
//! config.validate().unwrap();
//! let freqs = config.frequencies(None);
//! assert_eq!(freqs.inv_freq.len(), 32);
//! assert_eq!(freqs.inv_freq[0], 0.5); // θ^0 / factor
//! ```
//!
//! # Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `burn-0_21`, `burn-0_22` | `burn::config::Config` for [`RopeConfig`] (its `save` / `load`) on that Burn |

mod axes;
mod config;
mod error;
mod hf;
mod hf_model;
mod hf_params;
mod host_ids;
mod mrope_ids;
mod nd;
mod scaling;
mod spec;
pub mod table;

pub use axes::{PositionAxes, MAX_AXES};
pub use config::{RopeConfig, RopeLayout, MAX_HEAD_DIM, MAX_TABLE_VALUES};
pub use error::RopeError;
pub use hf_model::{LayerRope, ModelRopeConfig};
pub use host_ids::MAX_HOST_IDS;
pub use mrope_ids::{MropePositions, MropeSpan, VisionGrid};
pub use nd::{AxisFrequencies, GridCoords};
pub use scaling::{
    default_inv_freq, Frequencies, FrequencyContext, Llama3Scaling, LongRopeScaling,
    ProportionalScaling, RopeScaling, SeqLenRule, YarnScaling,
};
pub use spec::{AxisOrder, RopeSpec};

/// What the burn-rotary lines share but users do not call.
#[doc(hidden)]
pub mod internal {
    pub use crate::hf_model::layer_at;
    pub use crate::host_ids::{checked_product, id_buffer};
}
