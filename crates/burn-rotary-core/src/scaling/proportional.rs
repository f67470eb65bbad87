//! Proportional RoPE (Gemma 4's global layers), HF `"proportional"`. The formula is on
//! [`ProportionalScaling`].

use serde::{Deserialize, Serialize};

use crate::error::{check_positive, RopeError};

use super::rule::{Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule};
use super::RopeScaling;

/// Proportional RoPE: the first pairs rotate with the frequencies of the *whole* head, the others
/// not at all. It is not partial rotary: with `d` the rotary dim (the whole head, for HF) and
/// `n = floor(partial_rotary_factor * d / 2)` rotating pairs,
/// `inv_freq_i = b^(-2i/d) / factor` for `i < n` and `inv_freq_i = 0` for `n <= i < d/2`
/// (the exponent's denominator is `d`, not `2n`). Attention factor 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProportionalScaling {
    /// Divisor of every frequency (HF default 1).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// The fraction of the pairs that rotate, in `(0, 1]` (Gemma 4: 0.25).
    pub partial_rotary_factor: f64,
}

fn default_factor() -> f64 {
    1.0
}

impl ProportionalScaling {
    /// The number of pairs that rotate out of `rotary_dim / 2`.
    pub fn rotating_pairs(&self, rotary_dim: usize) -> usize {
        // HF: int(partial_rotary_factor * head_dim // 2), a float floor division.
        ((self.partial_rotary_factor * rotary_dim as f64) / 2.0).floor() as usize
    }
}

impl ScalingRule for ProportionalScaling {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let d = ctx.rotary_dim;
        let rotating = self.rotating_pairs(d).min(d / 2);
        let inv_freq = (0..d / 2)
            .map(|i| {
                if i < rotating {
                    ctx.theta.powf(-((2 * i) as f64) / d as f64) / self.factor
                } else {
                    0.0
                }
            })
            .collect();
        Frequencies::plain(inv_freq)
    }

    fn validate(&self, rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)?;
        let p = self.partial_rotary_factor;
        if !(p.is_finite() && p > 0.0 && p <= 1.0) {
            return Err(RopeError::invalid(
                "scaling.partial_rotary_factor",
                p,
                "a number in (0, 1]",
            ));
        }
        if self.rotating_pairs(rotary_dim) == 0 {
            return Err(RopeError::invalid(
                "scaling.partial_rotary_factor",
                p,
                format!(
                    "a fraction that rotates at least one of the {} pairs",
                    rotary_dim / 2
                ),
            ));
        }
        Ok(())
    }

    fn has_zero_frequencies(&self) -> bool {
        true
    }
}

impl HfScaling for ProportionalScaling {
    const ROPE_TYPE: &'static str = "proportional";
    const OWNS_PARTIAL_ROTARY_FACTOR: bool = true;

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        Ok(RopeScaling::Proportional(ProportionalScaling {
            factor: input.params.f64("factor")?.unwrap_or(default_factor()),
            partial_rotary_factor: input.partial_rotary_factor.unwrap_or(1.0),
        }))
    }
}
