//! Context-extension scalings: each variant's inverse frequencies and attention factor.
//!
//! Everything a scaling variant is lives in this file: its parameters, its formula (in the doc
//! comment of its variant), its validation and how it is read from a HuggingFace
//! `rope_parameters` dict. Adding a variant means adding one arm to each `match` below.
//!
//! Notation used in the formulas: `d` is the rotary dimension (`rotary_dim`), `i = 0..d/2` the
//! frequency index, `b` the base (`theta`), and `inv_freq_i = b^(-2i/d)` the unscaled inverse
//! frequencies. All math is done in `f64`.

use core::f64::consts::PI;

use serde::{Deserialize, Serialize};

use crate::error::{check_positive, RopeError};
use crate::hf::HfParams;

/// How RoPE frequencies are rescaled to run a model beyond its training context.
///
/// The defaults of each variant's optional fields are HuggingFace transformers' defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Plain RoPE: `inv_freq_i = b^(-2i/d)`, attention factor 1.
    #[default]
    None,
    /// Linear scaling, a.k.a. position interpolation (Chen et al. 2023):
    /// `inv_freq_i = b^(-2i/d) / factor`.
    Linear {
        /// The context extension ratio (`> 0`, usually `>= 1`).
        factor: f64,
    },
    /// Static NTK-aware scaling (bloc97): the base is raised so that the lowest frequency is
    /// interpolated by `factor` while the highest is kept:
    /// `b' = b * factor^(d/(d-2))`, `inv_freq_i = b'^(-2i/d)`.
    Ntk {
        /// The context extension ratio.
        factor: f64,
    },
    /// Dynamic NTK (emozilla), HF `"dynamic"`: NTK scaling whose factor grows with the current
    /// sequence length `L` (the largest position + 1), with `M = max_position_embeddings`:
    /// `L' = max(L, M)`, `b' = b * (factor * L'/M - (factor - 1))^(d/(d-2))`,
    /// `inv_freq_i = b'^(-2i/d)`. Up to `M` positions this is plain RoPE.
    DynamicNtk {
        /// The scaling factor.
        factor: f64,
    },
    /// YaRN (Peng et al. 2023), see [`YarnScaling`].
    Yarn(YarnScaling),
    /// Llama 3.1's frequency-band scaling, see [`Llama3Scaling`].
    Llama3(Llama3Scaling),
    /// LongRoPE (Ding et al. 2024, Phi-3), see [`LongRopeScaling`].
    LongRope(LongRopeScaling),
}

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

/// Llama 3.1 scaling: wavelengths `w_i = 2 pi / inv_freq_i` shorter than
/// `O / high_freq_factor` are kept, longer than `O / low_freq_factor` are divided by `factor`, and
/// those in between are blended with `s_i = (O / w_i - low_freq_factor) / (high_freq_factor -
/// low_freq_factor)`: `inv_freq_i * ((1 - s_i) / factor + s_i)`. Attention factor 1.
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

fn default_beta_fast() -> f64 {
    32.0
}
fn default_beta_slow() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}

/// What a scaling needs to know besides its own parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrequencyContext {
    /// The RoPE base `b`.
    pub theta: f64,
    /// The rotary dimension `d` (even).
    pub rotary_dim: usize,
    /// The model's `max_position_embeddings` `M`.
    pub max_position_embeddings: usize,
    /// The current sequence length (largest position + 1), for the variants that depend on it;
    /// `None` gives the frequencies used at initialisation.
    pub seq_len: Option<usize>,
}

/// Inverse frequencies (length `rotary_dim / 2`) and the factor applied to cos and sin.
#[derive(Debug, Clone, PartialEq)]
pub struct Frequencies {
    /// `inv_freq_i`, radians per position.
    pub inv_freq: Vec<f64>,
    /// The factor HF multiplies cos and sin by (YaRN's mscale, LongRoPE's factor; else 1).
    pub attention_factor: f64,
}

/// How a variant's frequencies depend on the sequence length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqLenRule {
    /// Never.
    Static,
    /// One set up to `threshold` positions and one other set beyond.
    Switch {
        /// The largest sequence length that uses the initial frequencies.
        threshold: usize,
    },
    /// A different set for every sequence length beyond `threshold`.
    Continuous {
        /// The largest sequence length that uses the initial frequencies.
        threshold: usize,
    },
}

/// `b^(-2i/d)` for `i = 0..d/2`.
pub fn default_inv_freq(theta: f64, rotary_dim: usize) -> Vec<f64> {
    (0..rotary_dim / 2)
        .map(|i| theta.powf(-((2 * i) as f64) / rotary_dim as f64))
        .collect()
}

/// The NTK-aware base: `b * s^(d/(d-2))`.
fn ntk_base(theta: f64, scale: f64, rotary_dim: usize) -> f64 {
    let d = rotary_dim as f64;
    theta * scale.powf(d / (d - 2.0))
}

/// YaRN's `m(s, k)`.
fn yarn_mscale(scale: f64, k: f64) -> f64 {
    if scale <= 1.0 {
        1.0
    } else {
        0.1 * k * scale.ln() + 1.0
    }
}

impl RopeScaling {
    /// The HF `rope_type` name of this variant.
    pub fn rope_type(&self) -> &'static str {
        match self {
            Self::None => "default",
            Self::Linear { .. } => "linear",
            Self::Ntk { .. } => "ntk",
            Self::DynamicNtk { .. } => "dynamic",
            Self::Yarn(_) => "yarn",
            Self::Llama3(_) => "llama3",
            Self::LongRope(_) => "longrope",
        }
    }

    /// Inverse frequencies and attention factor, as HF's `ROPE_INIT_FUNCTIONS` computes them.
    pub fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        let d = ctx.rotary_dim;
        let base = default_inv_freq(ctx.theta, d);
        let plain = |inv_freq| Frequencies {
            inv_freq,
            attention_factor: 1.0,
        };
        match self {
            Self::None => plain(base),
            Self::Linear { factor } => plain(base.iter().map(|f| f / factor).collect()),
            Self::Ntk { factor } => plain(default_inv_freq(ntk_base(ctx.theta, *factor, d), d)),
            Self::DynamicNtk { factor } => {
                let m = ctx.max_position_embeddings as f64;
                let len = ctx.seq_len.map_or(m, |l| (l as f64).max(m));
                let scale = factor * len / m - (factor - 1.0);
                plain(default_inv_freq(ntk_base(ctx.theta, scale, d), d))
            }
            Self::Yarn(y) => y.frequencies(ctx, &base),
            Self::Llama3(l) => l.frequencies(&base),
            Self::LongRope(l) => l.frequencies(ctx, &base),
        }
    }

    /// How this variant's frequencies depend on the sequence length.
    pub fn seq_len_rule(&self, max_position_embeddings: usize) -> SeqLenRule {
        match self {
            Self::DynamicNtk { .. } => SeqLenRule::Continuous {
                threshold: max_position_embeddings,
            },
            Self::LongRope(l) => SeqLenRule::Switch {
                threshold: l.original_max_position_embeddings,
            },
            _ => SeqLenRule::Static,
        }
    }

    /// Checks every parameter; `rotary_dim` is the already validated rotary dimension.
    pub fn validate(&self, rotary_dim: usize) -> Result<(), RopeError> {
        match self {
            Self::None => Ok(()),
            Self::Linear { factor } | Self::Ntk { factor } | Self::DynamicNtk { factor } => {
                check_positive("scaling.factor", *factor)
            }
            Self::Yarn(y) => {
                check_positive("scaling.factor", y.factor)?;
                check_positive_len(
                    "scaling.original_max_position_embeddings",
                    y.original_max_position_embeddings,
                )?;
                for (field, value) in [
                    ("scaling.beta_fast", y.beta_fast),
                    ("scaling.beta_slow", y.beta_slow),
                ] {
                    check_positive(field, value)?;
                }
                if y.beta_fast <= y.beta_slow {
                    return Err(RopeError::invalid(
                        "scaling.beta_fast",
                        y.beta_fast,
                        format!("a value > beta_slow = {}", y.beta_slow),
                    ));
                }
                check_optional_positive("scaling.attention_factor", y.attention_factor)?;
                check_optional_finite("scaling.mscale", y.mscale)?;
                check_optional_finite("scaling.mscale_all_dim", y.mscale_all_dim)
            }
            Self::Llama3(l) => {
                check_positive("scaling.factor", l.factor)?;
                check_positive("scaling.low_freq_factor", l.low_freq_factor)?;
                check_positive("scaling.high_freq_factor", l.high_freq_factor)?;
                check_positive_len(
                    "scaling.original_max_position_embeddings",
                    l.original_max_position_embeddings,
                )?;
                if l.high_freq_factor <= l.low_freq_factor {
                    return Err(RopeError::invalid(
                        "scaling.high_freq_factor",
                        l.high_freq_factor,
                        format!("a value > low_freq_factor = {}", l.low_freq_factor),
                    ));
                }
                Ok(())
            }
            Self::LongRope(l) => {
                check_positive_len(
                    "scaling.original_max_position_embeddings",
                    l.original_max_position_embeddings,
                )?;
                for (field, list) in [
                    ("scaling.short_factor", &l.short_factor),
                    ("scaling.long_factor", &l.long_factor),
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
                check_optional_positive("scaling.factor", l.factor)?;
                check_optional_positive("scaling.attention_factor", l.attention_factor)
            }
        }
    }

    /// Reads a variant from a HuggingFace `rope_parameters` / `rope_scaling` dict.
    ///
    /// `max_position_embeddings` is the model's (top-level) value; HF uses it as the default of
    /// `original_max_position_embeddings`.
    pub(crate) fn from_hf(
        rope_type: &str,
        p: &HfParams,
        max_position_embeddings: Option<usize>,
    ) -> Result<Self, RopeError> {
        let context = || format!("rope_type \"{rope_type}\"");
        let factor = || {
            p.f64("factor")?
                .ok_or_else(|| RopeError::missing("factor", context()))
        };
        let original = || {
            p.usize("original_max_position_embeddings")?
                .or(max_position_embeddings)
                .ok_or_else(|| RopeError::missing("original_max_position_embeddings", context()))
        };
        Ok(match rope_type {
            "default" => Self::None,
            "linear" => Self::Linear { factor: factor()? },
            "ntk" => Self::Ntk { factor: factor()? },
            "dynamic" => Self::DynamicNtk { factor: factor()? },
            "yarn" => {
                let original_max_position_embeddings = original()?;
                let factor = match p.f64("factor")? {
                    Some(f) => f,
                    None => {
                        let m = max_position_embeddings
                            .ok_or_else(|| RopeError::missing("factor", context()))?;
                        m as f64 / original_max_position_embeddings as f64
                    }
                };
                // HF reads these with `or`: a 0 or null falls back to the default.
                let nonzero = |v: Option<f64>| v.filter(|v| *v != 0.0);
                Self::Yarn(YarnScaling {
                    factor,
                    original_max_position_embeddings,
                    beta_fast: nonzero(p.f64("beta_fast")?).unwrap_or(default_beta_fast()),
                    beta_slow: nonzero(p.f64("beta_slow")?).unwrap_or(default_beta_slow()),
                    mscale: p.f64("mscale")?,
                    mscale_all_dim: p.f64("mscale_all_dim")?,
                    attention_factor: p.f64("attention_factor")?,
                    truncate: p.bool("truncate")?.unwrap_or(true),
                })
            }
            "llama3" => Self::Llama3(Llama3Scaling {
                factor: factor()?,
                low_freq_factor: p
                    .f64("low_freq_factor")?
                    .ok_or_else(|| RopeError::missing("low_freq_factor", context()))?,
                high_freq_factor: p
                    .f64("high_freq_factor")?
                    .ok_or_else(|| RopeError::missing("high_freq_factor", context()))?,
                original_max_position_embeddings: original()?,
            }),
            "longrope" => Self::LongRope(LongRopeScaling {
                short_factor: p
                    .f64_list("short_factor")?
                    .ok_or_else(|| RopeError::missing("short_factor", context()))?,
                long_factor: p
                    .f64_list("long_factor")?
                    .ok_or_else(|| RopeError::missing("long_factor", context()))?,
                original_max_position_embeddings: original()?,
                factor: p.f64("factor")?,
                attention_factor: p.f64("attention_factor")?,
            }),
            other => return Err(RopeError::UnknownRopeType(other.to_string())),
        })
    }
}

impl YarnScaling {
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

    fn frequencies(&self, ctx: &FrequencyContext, base: &[f64]) -> Frequencies {
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
        let inv_freq = base
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
}

impl Llama3Scaling {
    fn frequencies(&self, base: &[f64]) -> Frequencies {
        let original = self.original_max_position_embeddings as f64;
        let low_freq_wavelen = original / self.low_freq_factor;
        let high_freq_wavelen = original / self.high_freq_factor;
        let inv_freq = base
            .iter()
            .map(|&f| {
                let wavelen = 2.0 * PI / f;
                if wavelen < high_freq_wavelen {
                    f
                } else if wavelen > low_freq_wavelen {
                    f / self.factor
                } else {
                    let smooth = (original / wavelen - self.low_freq_factor)
                        / (self.high_freq_factor - self.low_freq_factor);
                    (1.0 - smooth) * f / self.factor + smooth * f
                }
            })
            .collect();
        Frequencies {
            inv_freq,
            attention_factor: 1.0,
        }
    }
}

impl LongRopeScaling {
    fn frequencies(&self, ctx: &FrequencyContext, base: &[f64]) -> Frequencies {
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
        Frequencies {
            inv_freq: base.iter().zip(factors).map(|(f, s)| f / s).collect(),
            attention_factor,
        }
    }
}

fn check_positive_len(field: &'static str, value: usize) -> Result<(), RopeError> {
    if value == 0 {
        Err(RopeError::invalid(field, value, "a length > 0"))
    } else {
        Ok(())
    }
}

fn check_optional_positive(field: &'static str, value: Option<f64>) -> Result<(), RopeError> {
    value.map_or(Ok(()), |v| check_positive(field, v))
}

fn check_optional_finite(field: &'static str, value: Option<f64>) -> Result<(), RopeError> {
    match value {
        Some(v) if !v.is_finite() => Err(RopeError::invalid(field, v, "a finite number")),
        _ => Ok(()),
    }
}
