//! Context-extension scalings: each variant's inverse frequencies and attention factor.
//!
//! Each variant has its own file here, holding its parameters, its formula (doc comment), its
//! validation, its frequencies and how it is read from a HuggingFace `rope_parameters` dict
//! ([`rule::ScalingRule`] and [`rule::HfScaling`]). The list below declares [`RopeScaling`] and
//! the table the HF reader dispatches on; adding a variant means one new file and one entry in
//! that list (plus its `mod` line and, for a public parameter struct, its `pub use`).
//!
//! Notation used in the formulas: `d` is the rotary dimension (`rotary_dim`), `i = 0..d/2` the
//! frequency index, `b` the base (`theta`), and `inv_freq_i = b^(-2i/d)` the unscaled inverse
//! frequencies. All math is done in `f64`.

mod default;
mod dynamic_ntk;
mod linear;
mod llama3;
mod longrope;
mod ntk;
mod proportional;
mod rule;
mod yarn;

use serde::{Deserialize, Serialize};

use crate::error::RopeError;
use rule::{rope_scalings, HfScaling, HfVariant, ScalingRule};

pub use llama3::Llama3Scaling;
pub use longrope::LongRopeScaling;
pub use proportional::ProportionalScaling;
pub(crate) use rule::HfScalingInput;
pub use rule::{default_inv_freq, Frequencies, FrequencyContext, SeqLenRule};
pub use yarn::YarnScaling;

// The list of variants: the enum, its dispatch and the HF table are generated from it.
rope_scalings! {
    unit {
        /// Plain RoPE: `inv_freq_i = b^(-2i/d)`, attention factor 1 (HF `"default"`).
        #[default]
        None => default::Plain,
    }
    fields {
        /// Linear scaling, a.k.a. position interpolation (Chen et al. 2023):
        /// `inv_freq_i = b^(-2i/d) / factor`.
        Linear {
            /// The context extension ratio (`> 0`, usually `>= 1`).
            factor: f64,
        } => linear::Linear,
        /// Static NTK-aware scaling (bloc97): the base is raised so that the lowest frequency is
        /// interpolated by `factor` while the highest is kept:
        /// `b' = b * factor^(d/(d-2))`, `inv_freq_i = b'^(-2i/d)`.
        Ntk {
            /// The context extension ratio.
            factor: f64,
        } => ntk::Ntk,
        /// Dynamic NTK (emozilla), HF `"dynamic"`: NTK scaling whose factor grows with the
        /// current sequence length `L` (the largest position + 1), with
        /// `M = max_position_embeddings`: `L' = max(L, M)`,
        /// `b' = b * (factor * L'/M - (factor - 1))^(d/(d-2))`, `inv_freq_i = b'^(-2i/d)`. Up to
        /// `M` positions this is plain RoPE.
        DynamicNtk {
            /// The scaling factor.
            factor: f64,
        } => dynamic_ntk::DynamicNtk,
    }
    wrapped {
        /// YaRN (Peng et al. 2023), see [`YarnScaling`].
        Yarn(YarnScaling),
        /// Llama 3.1's frequency-band scaling, see [`Llama3Scaling`].
        Llama3(Llama3Scaling),
        /// LongRoPE (Ding et al. 2024, Phi-3), see [`LongRopeScaling`].
        LongRope(LongRopeScaling),
        /// Proportional RoPE (Gemma 4), see [`ProportionalScaling`].
        Proportional(ProportionalScaling),
    }
}

impl RopeScaling {
    /// Inverse frequencies and attention factor, as HF's `ROPE_INIT_FUNCTIONS` computes them.
    pub fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        self.rule().frequencies(ctx)
    }

    /// How this variant's frequencies depend on the sequence length.
    pub fn seq_len_rule(&self, max_position_embeddings: usize) -> SeqLenRule {
        self.rule().seq_len_rule(max_position_embeddings)
    }

    /// Checks every parameter; `rotary_dim` is the already validated rotary dimension.
    pub fn validate(&self, rotary_dim: usize) -> Result<(), RopeError> {
        self.rule().validate(rotary_dim)
    }

    /// Whether some of this variant's inverse frequencies are zero by design (pairs that never
    /// rotate, as in [`RopeScaling::Proportional`]).
    pub fn has_zero_frequencies(&self) -> bool {
        self.rule().has_zero_frequencies()
    }

    /// The HF `rope_type` names this crate reads, in the order of the list.
    pub fn rope_types() -> impl Iterator<Item = &'static str> {
        HF_VARIANTS.iter().map(|v| v.rope_type)
    }

    /// The HF reader of `rope_type`, or [`RopeError::UnknownRopeType`].
    pub(crate) fn hf_variant(rope_type: &str) -> Result<&'static HfVariant, RopeError> {
        HF_VARIANTS
            .iter()
            .find(|v| v.rope_type == rope_type)
            .ok_or_else(|| RopeError::UnknownRopeType {
                name: rope_type.to_string(),
                known: Self::rope_types().collect::<Vec<_>>().join(", "),
            })
    }
}
