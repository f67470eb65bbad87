//! Llama 3.1's frequency-band scaling, HF `"llama3"`. The formula is on [`Llama3Scaling`].

use core::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::{check_positive, RopeError};

use super::rule::{
    check_positive_len, default_inv_freq, Frequencies, FrequencyContext, HfScaling, HfScalingInput,
    ScalingRule,
};
use super::RopeScaling;

/// Llama 3.1 scaling: wavelengths `w_i = 2 pi / inv_freq_i` shorter than
/// `O / high_freq_factor` are kept, longer than `O / low_freq_factor` are divided by `factor`, and
/// those in between are blended with `s_i = (O / w_i - low_freq_factor) / (high_freq_factor -
/// low_freq_factor)`: `inv_freq_i * ((1 - s_i) / factor + s_i)`. Attention factor 1.
/// `high_freq_factor == low_freq_factor` (Llama 4: both 1) leaves no band in between.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Llama3Scaling {
    /// Divisor of the low frequencies (8 for Llama 3.1).
    pub factor: f64,
    /// Wavelength threshold factor of the low band (1 for Llama 3.1).
    pub low_freq_factor: f64,
    /// Wavelength threshold factor of the high band (4 for Llama 3.1).
    pub high_freq_factor: f64,
    /// The context length the model was pre-trained with (8192 for Llama 3.1).
    pub original_max_position_embeddings: usize,
}

impl ScalingRule for Llama3Scaling {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let original = self.original_max_position_embeddings as f64;
        let low_freq_wavelen = original / self.low_freq_factor;
        let high_freq_wavelen = original / self.high_freq_factor;
        let inv_freq = default_inv_freq(ctx.theta, ctx.rotary_dim)
            .into_iter()
            .map(|f| {
                let wavelen = 2.0 * PI / f;
                if wavelen < high_freq_wavelen {
                    f
                } else if wavelen > low_freq_wavelen
                    || self.high_freq_factor == self.low_freq_factor
                {
                    f / self.factor
                } else {
                    let smooth = (original / wavelen - self.low_freq_factor)
                        / (self.high_freq_factor - self.low_freq_factor);
                    (1.0 - smooth) * f / self.factor + smooth * f
                }
            })
            .collect();
        Frequencies::plain(inv_freq)
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)?;
        check_positive("scaling.low_freq_factor", self.low_freq_factor)?;
        check_positive("scaling.high_freq_factor", self.high_freq_factor)?;
        check_positive_len(
            "scaling.original_max_position_embeddings",
            self.original_max_position_embeddings,
        )?;
        if self.high_freq_factor < self.low_freq_factor {
            return Err(RopeError::invalid(
                "scaling.high_freq_factor",
                self.high_freq_factor,
                format!("a value >= low_freq_factor = {}", self.low_freq_factor),
            ));
        }
        Ok(())
    }
}

impl HfScaling for Llama3Scaling {
    const ROPE_TYPE: &'static str = "llama3";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        let name = Self::ROPE_TYPE;
        Ok(RopeScaling::Llama3(Llama3Scaling {
            factor: input.required_f64("factor", name)?,
            low_freq_factor: input.required_f64("low_freq_factor", name)?,
            high_freq_factor: input.required_f64("high_freq_factor", name)?,
            original_max_position_embeddings: input.original_max_position_embeddings(name)?,
        }))
    }
}
