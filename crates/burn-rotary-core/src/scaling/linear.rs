//! Linear scaling, a.k.a. position interpolation (Chen et al. 2023), HF `"linear"`:
//! `inv_freq_i = b^(-2i/d) / factor`, attention factor 1.

use crate::error::{check_positive, RopeError};

use super::rule::{
    default_inv_freq, Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule,
};
use super::RopeScaling;

/// The rule of [`RopeScaling::Linear`].
pub(crate) struct Linear {
    pub factor: f64,
}

impl ScalingRule for Linear {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let base = default_inv_freq(ctx.theta, ctx.rotary_dim);
        Frequencies::plain(base.iter().map(|f| f / self.factor).collect())
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)
    }
}

impl HfScaling for Linear {
    const ROPE_TYPE: &'static str = "linear";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        Ok(RopeScaling::Linear {
            factor: input.required_f64("factor", Self::ROPE_TYPE)?,
        })
    }
}
