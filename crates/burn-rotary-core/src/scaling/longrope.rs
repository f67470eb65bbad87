//! LongRoPE (Ding et al. 2024, Phi-3), HF `"longrope"`. The formula is on [`LongRopeScaling`].

use serde::{Deserialize, Serialize};

use crate::error::RopeError;

use super::rule::{
    check_optional_positive, check_positive_len, default_inv_freq, Frequencies, FrequencyContext,
    HfScaling, HfScalingInput, ScalingRule, SeqLenRule,
};
use super::RopeScaling;

/// LongRoPE: per-frequency rescale factors found by search, one set for short and one for long
/// contexts: `inv_freq_i = b^(-2i/d) / f_i` with `f = long_factor` when the sequence length exceeds
/// `original_max_position_embeddings` and `f = short_factor` otherwise. The attention factor is
/// `attention_factor` if given, else `sqrt(1 + ln(s) / ln(O))` with
/// `s = factor.unwrap_or(max_position_embeddings / O)` (1 when `s <= 1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LongRopeScaling {
    /// Rescale factors for short sequences, length `rotary_dim / 2`.
    pub short_factor: Vec<f64>,
    /// Rescale factors for long sequences, length `rotary_dim / 2`.
    pub long_factor: Vec<f64>,
    /// The context length the model was pre-trained with.
    pub original_max_position_embeddings: usize,
    /// Context extension ratio used for the attention factor.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Explicit attention factor.
    #[serde(default)]
    pub attention_factor: Option<f64>,
}

impl ScalingRule for LongRopeScaling {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let original = self.original_max_position_embeddings;
        let scale = self
            .factor
            .unwrap_or(ctx.max_position_embeddings as f64 / original as f64);
        let attention_factor = self.attention_factor.unwrap_or(if scale <= 1.0 {
            1.0
        } else {
            (1.0 + scale.ln() / (original as f64).ln()).sqrt()
        });
        let long = ctx.seq_len.is_some_and(|l| l > original);
        let factors = if long {
            &self.long_factor
        } else {
            &self.short_factor
        };
        let base = default_inv_freq(ctx.theta, ctx.rotary_dim);
        Frequencies {
            inv_freq: base.iter().zip(factors).map(|(f, s)| f / s).collect(),
            attention_factor,
        }
    }

    fn validate(&self, rotary_dim: usize) -> Result<(), RopeError> {
        check_positive_len(
            "scaling.original_max_position_embeddings",
            self.original_max_position_embeddings,
        )?;
        for (field, list) in [
            ("scaling.short_factor", &self.short_factor),
            ("scaling.long_factor", &self.long_factor),
        ] {
            if list.len() != rotary_dim / 2 {
                return Err(RopeError::invalid(
                    field,
                    format!("a list of length {}", list.len()),
                    format!("rotary_dim / 2 = {} values", rotary_dim / 2),
                ));
            }
            if let Some(bad) = list.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return Err(RopeError::invalid(field, bad, "finite values > 0"));
            }
        }
        check_optional_positive("scaling.factor", self.factor)?;
        check_optional_positive("scaling.attention_factor", self.attention_factor)
    }

    fn seq_len_rule(&self, _max_position_embeddings: usize) -> SeqLenRule {
        SeqLenRule::Switch {
            threshold: self.original_max_position_embeddings,
        }
    }
}

impl HfScaling for LongRopeScaling {
    const ROPE_TYPE: &'static str = "longrope";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        let p = input.params;
        let list = |key: &'static str| {
            p.f64_list(key)?
                .ok_or_else(|| RopeError::missing(key, input.context(Self::ROPE_TYPE)))
        };
        Ok(RopeScaling::LongRope(LongRopeScaling {
            short_factor: list("short_factor")?,
            long_factor: list("long_factor")?,
            original_max_position_embeddings: input
                .original_max_position_embeddings(Self::ROPE_TYPE)?,
            factor: p.f64("factor")?,
            attention_factor: p.f64("attention_factor")?,
        }))
    }
}
