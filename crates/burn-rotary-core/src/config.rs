//! [`RopeConfig`]: everything that defines a rotary embedding, validated before use.

use serde::{Deserialize, Serialize};

use crate::axes::PositionAxes;
use crate::error::{check_positive, RopeError};
use crate::scaling::{Frequencies, FrequencyContext, RopeScaling, SeqLenRule};
use crate::table::table_rows;

/// The largest head dim a config accepts.
pub const MAX_HEAD_DIM: usize = 1 << 16;

/// The largest angle table a module builds, in `f32` values (128 MiB): `rotary_dim` times
/// `1024 + max_positions / 1024 + 1` rows, e.g. `max_positions` up to ~2.6e8 at rotary dim 128.
/// Larger tables would not fit one storage buffer on many wgpu devices.
pub const MAX_TABLE_VALUES: usize = 1 << 25;

/// Which elements of a head are rotated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
// Exhaustive (no `#[non_exhaustive]`): the kernels of each Burn line match on it, so a new
// variant is a new minor version of every crate.
pub enum RopeLayout {
    /// NeoX / LLaMA-HF `rotate_half`: pairs `(i, i + rotary_dim/2)`.
    #[default]
    Half,
    /// GPT-J / Meta original / MLX `traditional`: pairs `(2i, 2i+1)`.
    Interleaved,
}

impl core::str::FromStr for RopeLayout {
    type Err = RopeError;

    /// Parses `half` (also `neox`) or `interleaved` (also `gptj`).
    fn from_str(name: &str) -> Result<Self, RopeError> {
        match name {
            "half" | "neox" => Ok(Self::Half),
            "interleaved" | "gptj" => Ok(Self::Interleaved),
            other => Err(RopeError::invalid(
                "layout",
                other,
                "\"half\" or \"interleaved\"",
            )),
        }
    }
}

/// Configuration of a `Rope` module (in each burn-rotary line).
///
/// Build one with [`RopeConfig::new`] and the `with_*` setters, deserialize it (JSON round-trips;
/// with the `burn-0_21` / `burn-0_22` feature it is a Burn `Config`, with `save` and `load`), or
/// read it from a HuggingFace `config.json` with [`RopeConfig::from_hf_json`].
///
/// ```
/// use burn_rotary_core::{RopeConfig, RopeLayout, RopeScaling};
///
/// let config = RopeConfig::new(128)
///     .with_theta(500_000.0)
///     .with_layout(RopeLayout::Interleaved)
///     .with_scaling(RopeScaling::Linear { factor: 4.0 });
/// config.validate().unwrap();
/// assert_eq!(config.rotary_dim(), 128);
/// ```
//
// This is what Burn's `#[derive(Config)]` generates (the derive cannot run here: it must run in
// the crate defining the type, and this crate has no Burn): `new` with the required fields, a
// `with_*` setter per defaulted field, serde with every field named (only the `Option`s may be
// missing), and `Display` as pretty JSON. `tests/fixtures/rope_config_golden.json` pins the form.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RopeConfig {
    /// Size of the last axis of q and k (even).
    pub head_dim: usize,
    /// How many leading dims of each head are rotated (even, `<= head_dim`); the rest pass
    /// through unchanged. `None` (the default) rotates the whole head.
    pub rotary_dim: Option<usize>,
    /// The RoPE base (default 10000).
    pub theta: f64,
    /// Which elements are paired (default [`RopeLayout::Half`]).
    pub layout: RopeLayout,
    /// Context-extension scaling (default [`RopeScaling::None`]).
    pub scaling: RopeScaling,
    /// The model's `max_position_embeddings` (used by dynamic NTK and as HF's defaults; default
    /// 2048).
    pub max_position_embeddings: usize,
    /// Exclusive upper bound of the positions the module accepts (default 2^20). It sizes the
    /// angle tables (`1024 + max_positions / 1024` rows of `rotary_dim` floats).
    pub max_positions: usize,
    /// Custom inverse frequencies (length `rotary_dim / 2`, like MLX's `freqs`); they replace
    /// the ones the scaling computes, whose attention factor still applies. Default `None`.
    pub inv_freq: Option<Vec<f64>>,
    /// Which coordinate axis each frequency pair follows (M-RoPE, image / video RoPE): the
    /// module then takes `Positions::axes`. `None` (the default): one position per token.
    pub position_axes: Option<PositionAxes>,
}

impl RopeConfig {
    /// A config for heads of `head_dim`, every other field at its default.
    pub fn new(head_dim: usize) -> Self {
        Self {
            head_dim,
            rotary_dim: None,
            theta: 10000.0,
            layout: RopeLayout::Half,
            scaling: RopeScaling::None,
            max_position_embeddings: 2048,
            max_positions: 1 << 20,
            inv_freq: None,
            position_axes: None,
        }
    }

    /// Sets [`rotary_dim`](Self::rotary_dim).
    pub fn with_rotary_dim(mut self, rotary_dim: Option<usize>) -> Self {
        self.rotary_dim = rotary_dim;
        self
    }

    /// Sets [`theta`](Self::theta).
    pub fn with_theta(mut self, theta: f64) -> Self {
        self.theta = theta;
        self
    }

    /// Sets [`layout`](Self::layout).
    pub fn with_layout(mut self, layout: RopeLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Sets [`scaling`](Self::scaling).
    pub fn with_scaling(mut self, scaling: RopeScaling) -> Self {
        self.scaling = scaling;
        self
    }

    /// Sets [`max_position_embeddings`](Self::max_position_embeddings).
    pub fn with_max_position_embeddings(mut self, max_position_embeddings: usize) -> Self {
        self.max_position_embeddings = max_position_embeddings;
        self
    }

    /// Sets [`max_positions`](Self::max_positions).
    pub fn with_max_positions(mut self, max_positions: usize) -> Self {
        self.max_positions = max_positions;
        self
    }

    /// Sets [`inv_freq`](Self::inv_freq).
    pub fn with_inv_freq(mut self, inv_freq: Option<Vec<f64>>) -> Self {
        self.inv_freq = inv_freq;
        self
    }

    /// Sets [`position_axes`](Self::position_axes).
    pub fn with_position_axes(mut self, position_axes: Option<PositionAxes>) -> Self {
        self.position_axes = position_axes;
        self
    }
}

/// Pretty JSON, as Burn's configs print.
impl core::fmt::Display for RopeConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let json = serde_json::to_string_pretty(self).map_err(|_| core::fmt::Error)?;
        f.write_str(&json)
    }
}

#[cfg(feature = "burn-0_21")]
impl burn_core_0_21::config::Config for RopeConfig {}

#[cfg(feature = "burn-0_22")]
impl burn_core_0_22::config::Config for RopeConfig {}

impl RopeConfig {
    /// The rotary dimension: `rotary_dim`, or `head_dim` when unset.
    pub fn rotary_dim(&self) -> usize {
        self.rotary_dim.unwrap_or(self.head_dim)
    }

    /// The number of coordinate axes of a position: that of
    /// [`position_axes`](Self::position_axes), else 1.
    pub fn axes(&self) -> usize {
        self.position_axes.as_ref().map_or(1, PositionAxes::axes)
    }

    /// The coordinate axis of each frequency pair (all 0 without
    /// [`position_axes`](Self::position_axes)).
    pub fn pair_axes(&self) -> Result<Vec<usize>, RopeError> {
        let pairs = self.rotary_dim() / 2;
        match &self.position_axes {
            Some(axes) => axes.pair_axes(pairs),
            None => Ok(vec![0; pairs]),
        }
    }

    /// Checks every field, and what they compute: the error names the first bad field and its
    /// value. An accepted config has finite, positive inverse frequencies and attention factor
    /// at every sequence length, finite angles at every position below `max_positions`, and an
    /// angle table of at most [`MAX_TABLE_VALUES`] values.
    pub fn validate(&self) -> Result<(), RopeError> {
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) || self.head_dim > MAX_HEAD_DIM {
            return Err(RopeError::invalid(
                "head_dim",
                self.head_dim,
                format!("an even number in 2..={MAX_HEAD_DIM}"),
            ));
        }
        let rotary_dim = self.rotary_dim();
        if rotary_dim == 0 || !rotary_dim.is_multiple_of(2) {
            return Err(RopeError::invalid(
                "rotary_dim",
                rotary_dim,
                "an even number > 0",
            ));
        }
        if rotary_dim > self.head_dim {
            return Err(RopeError::invalid(
                "rotary_dim",
                rotary_dim,
                format!("a value <= head_dim = {}", self.head_dim),
            ));
        }
        check_positive("theta", self.theta)?;
        if self.max_position_embeddings == 0 {
            return Err(RopeError::invalid(
                "max_position_embeddings",
                0,
                "a length > 0",
            ));
        }
        if self.max_positions == 0 || self.max_positions > i32::MAX as usize {
            return Err(RopeError::invalid(
                "max_positions",
                self.max_positions,
                "a length in 1..=2^31-1",
            ));
        }
        if let Some(inv_freq) = &self.inv_freq {
            if inv_freq.len() != rotary_dim / 2 {
                return Err(RopeError::invalid(
                    "inv_freq",
                    format!("a list of length {}", inv_freq.len()),
                    format!("rotary_dim / 2 = {} values", rotary_dim / 2),
                ));
            }
            if let Some(bad) = inv_freq.iter().find(|f| !(f.is_finite() && **f >= 0.0)) {
                return Err(RopeError::invalid("inv_freq", bad, "finite values >= 0"));
            }
        }
        let values = table_rows(self.max_positions).saturating_mul(rotary_dim);
        if values > MAX_TABLE_VALUES {
            return Err(RopeError::invalid(
                "max_positions",
                self.max_positions,
                format!(
                    "an angle table of at most {MAX_TABLE_VALUES} values, not {values} \
                     (rotary_dim {rotary_dim} x {} rows)",
                    table_rows(self.max_positions)
                ),
            ));
        }
        self.scaling.validate(rotary_dim)?;
        self.pair_axes()?;
        self.validate_frequencies()
    }

    /// Checks what the fields compute, at every sequence length where the frequencies change.
    fn validate_frequencies(&self) -> Result<(), RopeError> {
        let lengths = match self.scaling.seq_len_rule(self.max_position_embeddings) {
            SeqLenRule::Static => vec![None],
            SeqLenRule::Switch { threshold } => vec![None, Some(threshold.saturating_add(1))],
            // The factor grows with the length: its ends bound it.
            SeqLenRule::Continuous { threshold } => {
                vec![
                    None,
                    Some(threshold.saturating_add(1)),
                    Some(self.max_positions),
                ]
            }
        };
        let field = if self.inv_freq.is_some() {
            "inv_freq"
        } else if self.scaling == RopeScaling::None {
            "theta"
        } else {
            "scaling"
        };
        let what = || {
            format!(
                "{} (theta = {}, rotary_dim = {})",
                self.scaling.rope_type(),
                self.theta,
                self.rotary_dim()
            )
        };
        // The largest angle: every position below `max_positions` has a finite one.
        let last = self.max_positions.saturating_sub(1) as f64;
        for seq_len in lengths {
            let freqs = self.frequencies(seq_len);
            let at = seq_len.map_or(String::new(), |l| format!(" at sequence length {l}"));
            if let Some((i, f)) = freqs
                .inv_freq
                .iter()
                .enumerate()
                .find(|(_, f)| !(**f >= 0.0 && finite_f32(**f) && finite_f32(**f * last)))
            {
                return Err(RopeError::invalid(
                    field,
                    what(),
                    format!(
                        "settings whose inverse frequencies, and angles at every position, are \
                         finite in f32 and >= 0{at}: inv_freq[{i}] = {f:e}"
                    ),
                ));
            }
            if self.inv_freq.is_none() && !self.scaling.has_zero_frequencies() {
                if let Some((i, f)) = freqs.inv_freq.iter().enumerate().find(|(_, f)| **f <= 0.0) {
                    return Err(RopeError::invalid(
                        field,
                        what(),
                        format!(
                            "settings whose inverse frequencies are > 0{at}: inv_freq[{i}] = {f:e}"
                        ),
                    ));
                }
            }
            // It scales f32 table values: it must be a normal f32.
            let a = freqs.attention_factor;
            if !(f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&a) {
                return Err(RopeError::invalid(
                    "scaling",
                    what(),
                    format!(
                        "settings whose attention factor is finite and > 0 (a normal f32){at}: \
                         it is {a:e}"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Inverse frequencies and attention factor for a sequence of `seq_len` positions (`None`:
    /// the ones used at initialisation), exactly as HF computes them (in `f64`).
    ///
    /// The config should be [validated](Self::validate) first.
    pub fn frequencies(&self, seq_len: Option<usize>) -> Frequencies {
        let mut freqs = self.scaling.frequencies(&FrequencyContext {
            theta: self.theta,
            rotary_dim: self.rotary_dim(),
            max_position_embeddings: self.max_position_embeddings,
            seq_len,
        });
        if let Some(inv_freq) = &self.inv_freq {
            freqs.inv_freq = inv_freq.clone();
        }
        freqs
    }
}

/// Whether `x` is finite, also once rounded to `f32` (what tables and kernels hold).
fn finite_f32(x: f64) -> bool {
    x.is_finite() && (x as f32).is_finite()
}
