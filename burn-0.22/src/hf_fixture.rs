//! HuggingFace golden RoPE vectors (`tests/fixtures/hf_rope_public.json`) and the check of one
//! case against this crate: the schema is described in `tests/fixtures/README.md`. [`GoldenFile`]
//! also reads the model-level schema ([`crate::hf_models_fixture`]).

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_rotary::RopeError;
use burn_rotary::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{nan_max, vacuous};
use crate::hf_models_fixture::ModelsFixture;
use crate::nd_fixture::NdFixture;

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

/// A golden file of either schema, told apart by the fields of its cases.
#[derive(Debug)]
pub enum GoldenFile {
    /// One RoPE setting per case (`hf_rope_public.json`).
    Rope(Fixture),
    /// A model's `config.json` and one of its layers per case (`hf_models_public.json`).
    Models(ModelsFixture),
    /// Image / video RoPE with per-token coordinates (`nd_rope_public.json`).
    Nd(NdFixture),
}

/// The schema of a real model's golden file (`smollm2_public.json`): checked by the Burn 0.21
/// line only, whose real model (`src/llama`) this line does not have.
pub const LLM_GOLDEN_SCHEMA: &str = "burn-rotary/llm-golden/v1";

impl GoldenFile {
    /// Reads a golden file and parses it by its schema: cases with a `config` or a `layer_idx`
    /// are model-level, cases with `coords` image / video, the others single-setting.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
        if value.get("schema").and_then(Value::as_str) == Some(LLM_GOLDEN_SCHEMA) {
            return Err(format!(
                "{path} is a real model's golden file ({LLM_GOLDEN_SCHEMA}): the Burn 0.22 line \
                 has no real model to check it with; use the Burn 0.21 line's hf_parity"
            ));
        }
        let first = value.get("cases").and_then(|c| c.get(0));
        // Either field marks the model-level schema, so a case missing the other is told so.
        let models =
            first.is_some_and(|c| c.get("config").is_some() || c.get("layer_idx").is_some());
        let nd = first.is_some_and(|c| c.get("coords").is_some());
        let file = if nd {
            Self::Nd(NdFixture::from_value(value, path)?)
        } else if models {
            let fixture: ModelsFixture = serde_json::from_value(value)
                .map_err(|e| format!("{path} is not a model-level RoPE golden file: {e}"))?;
            Self::Models(fixture)
        } else {
            Self::Rope(
                serde_json::from_value(value)
                    .map_err(|e| format!("{path} is not a RoPE golden file: {e}"))?,
            )
        };
        let cases = match &file {
            Self::Rope(f) => f.cases.len(),
            Self::Models(f) => f.cases.len(),
            Self::Nd(f) => f.cases.len(),
        };
        if cases == 0 {
            return Err(format!("{path} has no cases: nothing to check"));
        }
        Ok(file)
    }
}

impl Fixture {
    /// Reads and parses a golden file.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let fixture: Self = serde_json::from_str(&text)
            .map_err(|e| format!("{path} is not a RoPE golden file: {e}"))?;
        if fixture.cases.is_empty() {
            return Err(format!("{path} has no cases: nothing to check"));
        }
        Ok(fixture)
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

    /// Checks this case on `device`: its errors, or why it cannot be checked (a case whose
    /// tensors disagree with its own fields, or with nothing to compare, is an error, never a
    /// vacuous pass; a panic of the code under test is caught and reported as one).
    pub fn check(&self, device: &Device) -> Result<CaseErrors, String> {
        self.validate()?;
        crate::panic_report::catching_panics(|| self.check_valid(device))
    }

    /// Checks that the case's tensors agree with its own fields and leave something to compare.
    fn validate(&self) -> Result<(), String> {
        let [b, h, s, d] = self.shape;
        let numel = [b, h, s, d]
            .iter()
            .try_fold(1usize, |n, &x| n.checked_mul(x))
            .ok_or_else(|| format!("shape {:?} overflows", self.shape))?;
        if numel == 0 {
            return Err(format!(
                "shape {:?} is empty: nothing to compare",
                self.shape
            ));
        }
        if d != self.head_dim {
            return Err(format!(
                "shape {:?} has head dim {d}, the case says head_dim {}",
                self.shape, self.head_dim
            ));
        }
        if self.rotary_dim == 0
            || self.rotary_dim > self.head_dim
            || !self.rotary_dim.is_multiple_of(2)
        {
            return Err(format!(
                "rotary_dim {} must be even, > 0 and <= head_dim {}",
                self.rotary_dim, self.head_dim
            ));
        }
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
        if self.positions.len() != s || self.positions.iter().any(|p| *p < 0) {
            return Err(format!("`positions` must be {s} non-negative ids"));
        }
        if let Some(why) = vacuous(&[&self.q, &self.k], &self.positions) {
            return Err(why);
        }
        if self.inv_freq.len() != self.rotary_dim / 2 {
            return Err(format!(
                "`inv_freq` has {} values, rotary_dim {} needs {}",
                self.inv_freq.len(),
                self.rotary_dim,
                self.rotary_dim / 2
            ));
        }
        if let Some(f) = self.inv_freq.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
            return Err(format!("`inv_freq` holds {f}: expected finite values > 0"));
        }
        if !self
            .positions
            .iter()
            .any(|&p| p <= tolerance::CONFIG_MAX_POSITION)
        {
            return Err(format!(
                "no position <= {}: the outputs of the config cannot be checked",
                tolerance::CONFIG_MAX_POSITION
            ));
        }
        Ok(())
    }

    fn check_valid(&self, device: &Device) -> Result<CaseErrors, String> {
        let config = self.config().map_err(|e| e.to_string())?;
        if config.rotary_dim() != self.rotary_dim {
            return Err(format!(
                "rotary_dim from the config is {}, the case says {}",
                config.rotary_dim(),
                self.rotary_dim
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
            .fold(0.0, nan_max);
        let attention_factor = (freqs.attention_factor - self.attention_factor).abs();

        // HF's init frequencies (seq_len = None) are those of any length up to the threshold.
        let seq_len = self.seq_len_for_dynamic.unwrap_or(1);
        let custom = config.clone().with_inv_freq(Some(self.inv_freq.clone()));
        let custom_freq = self.max_error(&custom, seq_len, i64::MAX, device)?;
        let from_config =
            self.max_error(&config, seq_len, tolerance::CONFIG_MAX_POSITION, device)?;
        Ok(CaseErrors {
            inv_freq_rel,
            attention_factor,
            custom_freq,
            from_config,
        })
    }

    /// Max |ours - HF| over q and k at rows whose position is at most `max_position`.
    fn max_error(
        &self,
        config: &RopeConfig,
        seq_len: usize,
        max_position: i64,
        device: &Device,
    ) -> Result<f64, String> {
        let rope = config.try_init(device).map_err(|e| e.to_string())?;
        let [b, h, s, d] = self.shape;
        let input = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<4>::from_data(TensorData::new(v, [b, h, s, d]), device)
        };
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(self.positions.clone(), [1, s]), device);
        let positions = Positions::ids(ids).with_seq_len(seq_len);
        let (q, k) = rope.apply_qk(input(&self.q), input(&self.k), &positions, AxisOrder::Bhsd);
        let (mut worst, mut compared) = (0.0f64, 0usize);
        for (out, expected) in [(q, &self.q_out), (k, &self.k_out)] {
            let out = out
                .into_data()
                .try_into_vec_as::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            for (i, (o, e)) in out.iter().zip(expected.iter()).enumerate() {
                if self.positions[(i / d) % s] <= max_position {
                    worst = nan_max(worst, (*o as f64 - e).abs());
                    compared += 1;
                }
            }
        }
        if compared == 0 {
            return Err("no output value was compared".into());
        }
        Ok(worst)
    }
}
