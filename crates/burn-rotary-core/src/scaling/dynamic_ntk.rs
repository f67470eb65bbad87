//! Dynamic NTK (emozilla), HF `"dynamic"`: NTK scaling whose factor grows with the current
//! sequence length `L` (the largest position + 1), with `M = max_position_embeddings`:
//! `L' = max(L, M)`, `b' = b * (factor * L'/M - (factor - 1))^(d/(d-2))`,
//! `inv_freq_i = b'^(-2i/d)`, attention factor 1. Up to `M` positions this is plain RoPE.

use crate::error::{check_positive, RopeError};

use super::ntk::ntk_base;
use super::rule::{
    default_inv_freq, Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule,
    SeqLenRule,
};
use super::RopeScaling;

/// The rule of [`RopeScaling::DynamicNtk`].
pub(crate) struct DynamicNtk {
    pub factor: f64,
}

impl ScalingRule for DynamicNtk {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let m = ctx.max_position_embeddings as f64;
        let len = ctx.seq_len.map_or(m, |l| (l as f64).max(m));
        let scale = self.factor * len / m - (self.factor - 1.0);
        let base = ntk_base(ctx.theta, scale, ctx.rotary_dim);
        Frequencies::plain(default_inv_freq(base, ctx.rotary_dim))
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)
    }

    fn seq_len_rule(&self, max_position_embeddings: usize) -> SeqLenRule {
        SeqLenRule::Continuous {
            threshold: max_position_embeddings,
        }
    }
}

impl HfScaling for DynamicNtk {
    const ROPE_TYPE: &'static str = "dynamic";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        if input.max_position_embeddings.is_none() {
            return Err(RopeError::missing(
                "max_position_embeddings",
                input.context(Self::ROPE_TYPE),
            ));
        }
        Ok(RopeScaling::DynamicNtk {
            factor: input.required_f64("factor", Self::ROPE_TYPE)?,
        })
    }
}
