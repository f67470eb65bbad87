//! Static NTK-aware scaling (bloc97), `"ntk"` (not an HF `rope_type`): the base is raised so that
//! the lowest frequency is interpolated by `factor` while the highest is kept:
//! `b' = b * factor^(d/(d-2))`, `inv_freq_i = b'^(-2i/d)`, attention factor 1.

use crate::error::{check_positive, RopeError};

use super::rule::{
    default_inv_freq, Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule,
};
use super::RopeScaling;

/// The NTK-aware base: `b * s^(d/(d-2))` (shared with dynamic NTK).
pub(crate) fn ntk_base(theta: f64, scale: f64, rotary_dim: usize) -> f64 {
    let d = rotary_dim as f64;
    theta * scale.powf(d / (d - 2.0))
}

/// The rule of [`RopeScaling::Ntk`].
pub(crate) struct Ntk {
    pub factor: f64,
}

impl ScalingRule for Ntk {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let base = ntk_base(ctx.theta, self.factor, ctx.rotary_dim);
        Frequencies::plain(default_inv_freq(base, ctx.rotary_dim))
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)
    }
}

impl HfScaling for Ntk {
    const ROPE_TYPE: &'static str = "ntk";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        Ok(RopeScaling::Ntk {
            factor: input.required_f64("factor", Self::ROPE_TYPE)?,
        })
    }
}
