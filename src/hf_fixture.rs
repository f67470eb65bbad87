//! HuggingFace golden RoPE vectors (`tests/fixtures/hf_rope_public.json`) and the check of one
//! case against this crate: the schema is described in `tests/fixtures/README.md`.

use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::{AxisOrder, Positions, RopeBackend, RopeConfig, RopeError, RopeLayout};
use serde::Deserialize;
use serde_json::Value;

/// Tolerances of the parity check.
pub mod tolerance {
    /// `inv_freq`, relative.
    pub const INV_FREQ_REL: f64 = 1e-6;
    /// Attention factor, absolute.
    pub const ATTENTION_FACTOR: f64 = 1e-6;
    /// Outputs rotated with the case's own `inv_freq`, absolute, at every position.
    pub const OUTPUT_CUSTOM_FREQ: f64 = 1e-4;
    /// Outputs of the module built from the config alone, absolute, at positions up to
    /// [`CONFIG_MAX_POSITION`].
    pub const OUTPUT_FROM_CONFIG: f64 = 1e-3;
    /// See [`OUTPUT_FROM_CONFIG`].
    pub const CONFIG_MAX_POSITION: i64 = 8192;
}

/// A golden file.
#[derive(Debug, Deserialize)]
pub struct Fixture {
    /// What produced it.
    pub generator: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case: a config, positions, inputs and HF's outputs.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Case id.
    pub name: String,
    /// `"half"` or `"interleaved"`.
    pub layout: String,
    /// Size of the last axis.
    pub head_dim: usize,
    /// Rotated dims.
    pub rotary_dim: usize,
    /// The model's `max_position_embeddings`.
    pub max_position_embeddings: usize,
    /// HF's `rope_parameters` dict.
    pub rope_parameters: Value,
    /// The `seq_len` HF's init function was given.
    pub seq_len_for_dynamic: Option<usize>,
    /// Position of each row.
    pub positions: Vec<i64>,
    /// HF's inverse frequencies.
    pub inv_freq: Vec<f64>,
    /// HF's attention factor.
    pub attention_factor: f64,
    /// `[B, H, S, head_dim]`.
    pub shape: [usize; 4],
    /// Query input.
    pub q: Vec<f64>,
    /// Key input.
    pub k: Vec<f64>,
    /// HF's rotated query.
    pub q_out: Vec<f64>,
    /// HF's rotated key.
    pub k_out: Vec<f64>,
}

impl Fixture {
    /// Reads and parses a golden file.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{path} is not a RoPE golden file: {e}"))
    }
}

/// Largest errors of one case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseErrors {
    /// Max relative error of `inv_freq`.
    pub inv_freq_rel: f64,
    /// Absolute error of the attention factor.
    pub attention_factor: f64,
    /// Max absolute output error with the case's own `inv_freq`, every position.
    pub custom_freq: f64,
    /// Max absolute output error of the module built from the config, positions <= 8192.
    pub from_config: f64,
}

impl CaseErrors {
    /// Whether every error is within its tolerance (NaN fails).
    pub fn passed(&self) -> bool {
        use tolerance::*;
        self.inv_freq_rel <= INV_FREQ_REL
            && self.attention_factor <= ATTENTION_FACTOR
            && self.custom_freq <= OUTPUT_CUSTOM_FREQ
            && self.from_config <= OUTPUT_FROM_CONFIG
    }
}

impl Case {
    /// The config a user builds from this case's HF fields.
    pub fn config(&self) -> Result<RopeConfig, RopeError> {
        let hf = serde_json::json!({
            "head_dim": self.head_dim,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_parameters": self.rope_parameters,
        });
        let layout: RopeLayout = self.layout.parse()?;
        let max_position = self.positions.iter().copied().max().unwrap_or(0).max(0) as usize;
        let config = RopeConfig::from_hf_json(&hf)?.with_layout(layout);
        // Cover every position of the case (and at least the default range).
        Ok(config
            .clone()
            .with_max_positions(config.max_positions.max(max_position + 1)))
    }

    /// Checks this case on backend `B`.
    pub fn check<B: RopeBackend>(&self, device: &B::Device) -> Result<CaseErrors, String> {
        let config = self.config().map_err(|e| e.to_string())?;
        if config.rotary_dim() != self.rotary_dim {
            return Err(format!(
                "rotary_dim from the config is {}, the case says {}",
                config.rotary_dim(),
                self.rotary_dim
            ));
        }
        let numel: usize = self.shape.iter().product();
        for (name, v) in [
            ("q", &self.q),
            ("k", &self.k),
            ("q_out", &self.q_out),
            ("k_out", &self.k_out),
        ] {
            if v.len() != numel {
                return Err(format!(
                    "`{name}` has {} values, shape {:?} needs {numel}",
                    v.len(),
                    self.shape
                ));
            }
        }
        if self.positions.len() != self.shape[2] || self.positions.iter().any(|p| *p < 0) {
            return Err(format!(
                "`positions` must be {} non-negative ids",
                self.shape[2]
            ));
        }

        let freqs = config.frequencies(self.seq_len_for_dynamic);
        if freqs.inv_freq.len() != self.inv_freq.len() {
            return Err(format!(
                "{} inverse frequencies computed, the case has {}",
                freqs.inv_freq.len(),
                self.inv_freq.len()
            ));
        }
        let inv_freq_rel = freqs
            .inv_freq
            .iter()
            .zip(&self.inv_freq)
            .map(|(a, b)| ((a - b) / b).abs())
            .fold(0.0, max_or_nan);
        let attention_factor = (freqs.attention_factor - self.attention_factor).abs();

        // HF's init frequencies (seq_len = None) are those of any length up to the threshold.
        let seq_len = self.seq_len_for_dynamic.unwrap_or(1);
        let custom = config.clone().with_inv_freq(Some(self.inv_freq.clone()));
        let custom_freq = self.max_error::<B>(&custom, seq_len, i64::MAX, device)?;
        let from_config =
            self.max_error::<B>(&config, seq_len, tolerance::CONFIG_MAX_POSITION, device)?;
        Ok(CaseErrors {
            inv_freq_rel,
            attention_factor,
            custom_freq,
            from_config,
        })
    }

    /// Max |ours - HF| over q and k at rows whose position is at most `max_position`.
    fn max_error<B: RopeBackend>(
        &self,
        config: &RopeConfig,
        seq_len: usize,
        max_position: i64,
        device: &B::Device,
    ) -> Result<f64, String> {
        let rope = config.try_init::<B>(device).map_err(|e| e.to_string())?;
        let [b, h, s, d] = self.shape;
        let input = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<B, 4>::from_data(TensorData::new(v, [b, h, s, d]), device)
        };
        let ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(self.positions.clone(), [1, s]), device);
        let positions = Positions::ids(ids).with_seq_len(seq_len);
        let (q, k) = rope.apply_qk(input(&self.q), input(&self.k), &positions, AxisOrder::Bhsd);
        let mut worst = 0.0f64;
        for (out, expected) in [(q, &self.q_out), (k, &self.k_out)] {
            let out = out
                .into_data()
                .convert::<f32>()
                .to_vec::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            for (i, (o, e)) in out.iter().zip(expected.iter()).enumerate() {
                if self.positions[(i / d) % s] <= max_position {
                    worst = max_or_nan(worst, (*o as f64 - e).abs());
                }
            }
        }
        Ok(worst)
    }
}

/// The larger of two errors, where a NaN wins (and stays).
fn max_or_nan(worst: f64, err: f64) -> f64 {
    if worst.is_nan() || err.is_nan() {
        f64::NAN
    } else {
        worst.max(err)
    }
}
