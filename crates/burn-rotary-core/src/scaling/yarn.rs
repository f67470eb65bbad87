//! YaRN (Peng et al. 2023), HF `"yarn"`: NTK-by-parts interpolation plus an attention
//! (temperature) factor. The formula is on [`YarnScaling`].

use core::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::{check_positive, RopeError};

use super::rule::{
    check_optional_finite, check_optional_positive, check_positive_len, default_inv_freq,
    Frequencies, FrequencyContext, HfScaling, HfScalingInput, ScalingRule,
};
use super::RopeScaling;

/// YaRN: NTK-by-parts interpolation plus an attention (temperature) factor.
///
/// With `O = original_max_position_embeddings`, the correction dimension of `r` rotations is
/// `c(r) = d * ln(O / (2 pi r)) / (2 ln b)`; `lo = c(beta_fast)`, `hi = c(beta_slow)` (floored /
/// ceiled when `truncate`), clamped to `[0, d-1]`. The ramp `g_i = clamp((i - lo)/(hi - lo), 0, 1)`
/// blends the two regimes:
/// `inv_freq_i = b^(-2i/d) * (g_i / factor + (1 - g_i))`.
/// The attention factor is `attention_factor` if given, else `m(factor, mscale) /
/// m(factor, mscale_all_dim)` when both are given and non-zero, else `m(factor, 1)`, with
/// `m(s, k) = 1` for `s <= 1` and `0.1 k ln(s) + 1` otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YarnScaling {
    /// The context extension ratio.
    pub factor: f64,
    /// The context length the model was pre-trained with.
    pub original_max_position_embeddings: usize,
    /// Number of rotations above which dimensions are extrapolated (kept). HF default 32.
    #[serde(default = "default_beta_fast")]
    pub beta_fast: f64,
    /// Number of rotations below which dimensions are fully interpolated. HF default 1.
    #[serde(default = "default_beta_slow")]
    pub beta_slow: f64,
    /// DeepSeek-style mscale numerator (used only together with `mscale_all_dim`).
    #[serde(default)]
    pub mscale: Option<f64>,
    /// DeepSeek-style mscale denominator.
    #[serde(default)]
    pub mscale_all_dim: Option<f64>,
    /// Explicit attention factor; overrides the mscale formula.
    #[serde(default)]
    pub attention_factor: Option<f64>,
    /// Round the correction range outwards to whole dimensions (HF default `true`).
    #[serde(default = "default_true")]
    pub truncate: bool,
}

fn default_beta_fast() -> f64 {
    32.0
}
fn default_beta_slow() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}

/// YaRN's `m(s, k)`.
fn yarn_mscale(scale: f64, k: f64) -> f64 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * k * scale.ln() + 1.0
    }
}

impl YarnScaling {
    /// YaRN extending a model pre-trained on `original_max_position_embeddings` positions by
    /// `factor`, with transformers' defaults for the rest: `beta_fast` 32, `beta_slow` 1, the
    /// attention factor `0.1 ln(factor) + 1`, the correction range truncated.
    pub fn new(factor: f64, original_max_position_embeddings: usize) -> Self {
        Self {
            factor,
            original_max_position_embeddings,
            beta_fast: default_beta_fast(),
            beta_slow: default_beta_slow(),
            mscale: None,
            mscale_all_dim: None,
            attention_factor: None,
            truncate: true,
        }
    }

    fn attention_factor(&self) -> f64 {
        if let Some(af) = self.attention_factor {
            return af;
        }
        match (self.mscale, self.mscale_all_dim) {
            (Some(m), Some(m_all)) if m != 0.0 && m_all != 0.0 => {
                yarn_mscale(self.factor, m) / yarn_mscale(self.factor, m_all)
            }
            _ => yarn_mscale(self.factor, 1.0),
        }
    }
}

impl ScalingRule for YarnScaling {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let d = ctx.rotary_dim as f64;
        let original = self.original_max_position_embeddings as f64;
        let correction_dim =
            |rotations: f64| d * (original / (rotations * 2.0 * PI)).ln() / (2.0 * ctx.theta.ln());
        let (mut lo, mut hi) = (
            correction_dim(self.beta_fast),
            correction_dim(self.beta_slow),
        );
        if self.truncate {
            lo = lo.floor();
            hi = hi.ceil();
        }
        let lo = lo.max(0.0);
        let mut hi = hi.min(d - 1.0);
        if lo == hi {
            hi += 0.001; // HF's guard against a zero-width ramp
        }
        let inv_freq = default_inv_freq(ctx.theta, ctx.rotary_dim)
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let ramp = ((i as f64 - lo) / (hi - lo)).clamp(0.0, 1.0);
                f * (ramp / self.factor + (1.0 - ramp))
            })
            .collect();
        Frequencies {
            inv_freq,
            attention_factor: self.attention_factor(),
        }
    }

    fn validate(&self, _rotary_dim: usize) -> Result<(), RopeError> {
        check_positive("scaling.factor", self.factor)?;
        check_positive_len(
            "scaling.original_max_position_embeddings",
            self.original_max_position_embeddings,
        )?;
        check_positive("scaling.beta_fast", self.beta_fast)?;
        check_positive("scaling.beta_slow", self.beta_slow)?;
        if self.beta_fast <= self.beta_slow {
            return Err(RopeError::invalid(
                "scaling.beta_fast",
                self.beta_fast,
                format!("a value > beta_slow = {}", self.beta_slow),
            ));
        }
        check_optional_positive("scaling.attention_factor", self.attention_factor)?;
        check_optional_finite("scaling.mscale", self.mscale)?;
        check_optional_finite("scaling.mscale_all_dim", self.mscale_all_dim)
    }
}

impl HfScaling for YarnScaling {
    const ROPE_TYPE: &'static str = "yarn";

    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError> {
        let p = input.params;
        let original_max_position_embeddings =
            input.original_max_position_embeddings(Self::ROPE_TYPE)?;
        // HF: a missing factor is max_position_embeddings / original_max_position_embeddings.
        let factor = match p.f64("factor")? {
            Some(f) => f,
            None => {
                let m = input
                    .max_position_embeddings
                    .ok_or_else(|| RopeError::missing("factor", input.context(Self::ROPE_TYPE)))?;
                m as f64 / original_max_position_embeddings as f64
            }
        };
        // HF reads these with `or`: a 0 or null falls back to the default.
        let nonzero = |v: Option<f64>| v.filter(|v| *v != 0.0);
        Ok(RopeScaling::Yarn(YarnScaling {
            factor,
            original_max_position_embeddings,
            beta_fast: nonzero(p.f64("beta_fast")?).unwrap_or(default_beta_fast()),
            beta_slow: nonzero(p.f64("beta_slow")?).unwrap_or(default_beta_slow()),
            mscale: p.f64("mscale")?,
            mscale_all_dim: p.f64("mscale_all_dim")?,
            attention_factor: p.f64("attention_factor")?,
            truncate: p.bool("truncate")?.unwrap_or(true),
        }))
    }
}
