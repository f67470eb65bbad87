//! What every scaling variant provides ([`ScalingRule`], [`HfScaling`]), the types they share,
//! and the macro that turns the list of variants in `mod.rs` into [`RopeScaling`](super::RopeScaling)
//! and its dispatch.

use crate::error::{check_positive, RopeError};
use crate::hf_params::HfParams;

use super::RopeScaling;

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

impl Frequencies {
    /// Frequencies with attention factor 1.
    pub(crate) fn plain(inv_freq: Vec<f64>) -> Self {
        Self {
            inv_freq,
            attention_factor: 1.0,
        }
    }
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

/// A scaling variant's math: frequencies, validation, length dependence.
pub(crate) trait ScalingRule {
    /// Inverse frequencies and attention factor, as HF's `ROPE_INIT_FUNCTIONS` computes them.
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies;

    /// Checks every parameter; `rotary_dim` is the already validated rotary dimension.
    fn validate(&self, rotary_dim: usize) -> Result<(), RopeError>;

    /// How the frequencies depend on the sequence length.
    fn seq_len_rule(&self, _max_position_embeddings: usize) -> SeqLenRule {
        SeqLenRule::Static
    }

    /// Whether some inverse frequencies are zero by design (pairs that never rotate).
    fn has_zero_frequencies(&self) -> bool {
        false
    }
}

impl<T: ScalingRule> ScalingRule for &T {
    fn frequencies(&self, ctx: &FrequencyContext) -> Frequencies {
        (**self).frequencies(ctx)
    }
    fn validate(&self, rotary_dim: usize) -> Result<(), RopeError> {
        (**self).validate(rotary_dim)
    }
    fn seq_len_rule(&self, max_position_embeddings: usize) -> SeqLenRule {
        (**self).seq_len_rule(max_position_embeddings)
    }
    fn has_zero_frequencies(&self) -> bool {
        (**self).has_zero_frequencies()
    }
}

/// What a variant's HF reader is given.
pub(crate) struct HfScalingInput<'a> {
    /// The `rope_parameters` / `rope_scaling` dict (with the top-level fallbacks merged in).
    pub params: &'a HfParams<'a>,
    /// The model's `max_position_embeddings`, HF's default of `original_max_position_embeddings`.
    pub max_position_embeddings: Option<usize>,
    /// `partial_rotary_factor`, from the dict or the top level.
    pub partial_rotary_factor: Option<f64>,
}

impl HfScalingInput<'_> {
    /// `rope_type "name"`, the context of a missing-field error.
    pub fn context(&self, rope_type: &str) -> String {
        format!("rope_type \"{rope_type}\"")
    }

    /// A required number.
    pub fn required_f64(&self, key: &'static str, rope_type: &str) -> Result<f64, RopeError> {
        self.params
            .f64(key)?
            .ok_or_else(|| RopeError::missing(key, self.context(rope_type)))
    }

    /// `original_max_position_embeddings`, defaulting to `max_position_embeddings` as HF does.
    pub fn original_max_position_embeddings(&self, rope_type: &str) -> Result<usize, RopeError> {
        let key = "original_max_position_embeddings";
        self.params
            .usize(key)?
            .or(self.max_position_embeddings)
            .ok_or_else(|| RopeError::missing(key, self.context(rope_type)))
    }
}

/// A variant's HuggingFace side: its `rope_type` name and how it is read.
pub(crate) trait HfScaling {
    /// The HF `rope_type` name.
    const ROPE_TYPE: &'static str;
    /// `true` when `partial_rotary_factor` is a parameter of the variant (the whole head is
    /// rotated) rather than a shorter rotary dim.
    const OWNS_PARTIAL_ROTARY_FACTOR: bool = false;

    /// Reads the variant from a HF `rope_parameters` dict.
    fn from_hf(input: &HfScalingInput) -> Result<RopeScaling, RopeError>;
}

/// One entry of the table the HF reader dispatches on.
pub(crate) struct HfVariant {
    /// The HF `rope_type` name.
    pub rope_type: &'static str,
    /// See [`HfScaling::OWNS_PARTIAL_ROTARY_FACTOR`].
    pub owns_partial_rotary_factor: bool,
    /// The reader.
    pub read: fn(&HfScalingInput) -> Result<RopeScaling, RopeError>,
}

impl HfVariant {
    /// The entry of variant `R`.
    pub const fn of<R: HfScaling>() -> Self {
        Self {
            rope_type: R::ROPE_TYPE,
            owns_partial_rotary_factor: R::OWNS_PARTIAL_ROTARY_FACTOR,
            read: R::from_hf,
        }
    }
}

pub(crate) fn check_positive_len(field: &'static str, value: usize) -> Result<(), RopeError> {
    if value == 0 {
        Err(RopeError::invalid(field, value, "a length > 0"))
    } else {
        Ok(())
    }
}

pub(crate) fn check_optional_positive(
    field: &'static str,
    value: Option<f64>,
) -> Result<(), RopeError> {
    value.map_or(Ok(()), |v| check_positive(field, v))
}

pub(crate) fn check_optional_finite(
    field: &'static str,
    value: Option<f64>,
) -> Result<(), RopeError> {
    match value {
        Some(v) if !v.is_finite() => Err(RopeError::invalid(field, v, "a finite number")),
        _ => Ok(()),
    }
}

/// Declares [`RopeScaling`](super::RopeScaling) from the list of variants, with its dispatch to
/// each variant's [`ScalingRule`] and the [`HfVariant`] table. Three kinds of entries:
/// `unit { Variant => RuleType }` (a unit variant, its rule a unit struct), `fields { Variant {
/// field: Type } => RuleType }` (a struct variant, its rule a struct with the same fields) and
/// `wrapped { Variant(Params) }` (a tuple variant whose public parameter struct is the rule).
macro_rules! rope_scalings {
    (
        unit { $( $(#[$ua:meta])* $uv:ident => $um:ident :: $urule:ident ),* $(,)? }
        fields { $(
            $(#[$fa:meta])* $fv:ident { $( $(#[$ffa:meta])* $f:ident : $ft:ty ),* $(,)? } => $fm:ident :: $frule:ident
        ),* $(,)? }
        wrapped { $( $(#[$wa:meta])* $wv:ident ( $wt:ty ) ),* $(,)? }
    ) => {
        /// How RoPE frequencies are rescaled to run a model beyond its training context.
        ///
        /// The defaults of each variant's optional fields are HuggingFace transformers' defaults.
        /// Each variant lives in its own file of `scaling/`, which holds its formula.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
        #[serde(tag = "type", rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum RopeScaling {
            $( $(#[$ua])* $uv, )*
            $( $(#[$fa])* $fv { $( $(#[$ffa])* $f: $ft ),* }, )*
            $( $(#[$wa])* $wv($wt), )*
        }

        impl RopeScaling {
            /// This variant's rule.
            fn rule(&self) -> Box<dyn ScalingRule + '_> {
                match self {
                    $( Self::$uv => Box::new($um::$urule), )*
                    $( Self::$fv { $($f),* } => Box::new($fm::$frule { $($f: Clone::clone($f)),* }), )*
                    $( Self::$wv(params) => Box::new(params), )*
                }
            }

            /// The HF `rope_type` name of this variant.
            pub fn rope_type(&self) -> &'static str {
                match self {
                    $( Self::$uv => <$um::$urule as HfScaling>::ROPE_TYPE, )*
                    $( Self::$fv { .. } => <$fm::$frule as HfScaling>::ROPE_TYPE, )*
                    $( Self::$wv(_) => <$wt as HfScaling>::ROPE_TYPE, )*
                }
            }
        }

        /// Every variant's HF name and reader, in the order of the list.
        pub(crate) const HF_VARIANTS: &[HfVariant] = &[
            $( HfVariant::of::<$um::$urule>(), )*
            $( HfVariant::of::<$fm::$frule>(), )*
            $( HfVariant::of::<$wt>(), )*
        ];
    };
}
pub(crate) use rope_scalings;
