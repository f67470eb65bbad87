//! Plain RoPE (HF `"default"`): `inv_freq_i = b^(-2i/d)`, attention factor 1.

use crate::error::RopeError;

use super::rule::{
    default_inv_freq, Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule,
};
use super::RopeScaling;

/// The rule of [`RopeScaling::None`].
pub(crate) struct Plain;

impl ScalingRule for Plain {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        Frequencies::plain(default_inv_freq(ctx.theta, ctx.rotary_dim))
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        Ok(())
    }
}

impl HfScaling for Plain {
    const ROPE_TYPE: &'static str = "default";

    fn from_hf(_input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        Ok(RopeScaling::None)
    }
}
