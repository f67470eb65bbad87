//! The `burn-rotary/llm-golden/v1` fixture (`tests/fixtures/README.md`): a real model's
//! tokenizer and logits from transformers, checked against [`Llama`] and [`ChatTokenizer`].
//!
//! A tokenize case passes when the ids (and, for a chat case, the rendered template) are
//! transformers'. A logits case passes when, at each of its rows, the logsumexp, the top-20
//! logits and the probe logits are within `tolerance_exact` of `rows_exact` (a float64 forward
//! with exact angles, which this crate's angles are) and the mean next-token NLL is within
//! `nll_tolerance_exact` of `nll_mean_exact`; the distance to `rows` (transformers' own float32
//! output, whose rounded angles move logits by up to `exact_vs_hf_max_diff`) is reported.

use std::path::Path;

use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::{RopeBackend, RopeConfig};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::compare::nan_max;

use super::{ChatTokenizer, Gguf, Llama, LlamaCache, Message, QkLayout};

/// The schema this module reads.
pub const SCHEMA: &str = "burn-rotary/llm-golden/v1";

/// A fixture file.
#[derive(Debug, Clone, Deserialize)]
pub struct LlmGolden {
    /// [`SCHEMA`].
    pub schema: String,
    /// The model the fixture was made from.
    pub model: GoldenModel,
    /// The cases, in order.
    pub cases: Vec<LlmCase>,
}

/// The model a fixture was made from.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenModel {
    /// Its file name.
    pub file: String,
    /// Its sha256, hex.
    pub sha256: String,
    /// What transformers derived from it (`hidden_size`, `num_attention_heads`, ...).
    pub hf_config: Value,
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LlmCase {
    /// Text (or a chat) and transformers' ids.
    Tokenize(TokenizeCase),
    /// One sequence and transformers' logits at a few rows.
    Logits(LogitsCase),
}

impl LlmCase {
    /// The case's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Tokenize(case) => &case.name,
            Self::Logits(case) => &case.name,
        }
    }
}

/// A tokenize case (a chat case renders `messages` first).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenizeCase {
    pub name: String,
    #[serde(default)]
    pub text: Option<String>,
    pub ids: Vec<u32>,
    #[serde(default)]
    pub messages: Option<Vec<Message>>,
    #[serde(default)]
    pub add_generation_prompt: Option<bool>,
    #[serde(default)]
    pub chat_template: Option<String>,
    #[serde(default)]
    pub formatted: Option<String>,
}

/// A logits case.
#[derive(Debug, Clone, Deserialize)]
pub struct LogitsCase {
    pub name: String,
    pub ids: Vec<u32>,
    pub position_ids: Vec<usize>,
    pub rope_scaling: Option<Value>,
    #[serde(default)]
    pub hf_rope_parameters: Option<Value>,
    pub max_position_embeddings: usize,
    pub rows: Vec<GoldenRow>,
    pub rows_exact: Vec<GoldenRow>,
    pub tolerance_exact: f64,
    pub nll_mean_exact: f64,
    pub nll_tolerance_exact: f64,
    pub exact_vs_hf_max_diff: f64,
}

/// Logits at one token of a logits case.
#[derive(Debug, Clone, Deserialize)]
pub struct GoldenRow {
    pub pos_index: usize,
    pub logsumexp: f64,
    pub top: Vec<(u32, f64)>,
    pub probe_ids: Vec<u32>,
    pub probe_logits: Vec<f64>,
}

/// What checking a logits case measured.
#[derive(Debug, Clone, Copy)]
pub struct LogitsErrors {
    /// Largest |ours − rows_exact| over logsumexps, top and probe logits.
    pub max_exact: f64,
    /// Largest |ours − rows| (transformers' float32 output), reported only.
    pub max_hf: f64,
    /// |mean NLL − nll_mean_exact|.
    pub nll: f64,
    /// The case's `tolerance_exact`.
    pub tolerance: f64,
    /// The case's `nll_tolerance_exact`.
    pub nll_tolerance: f64,
}

impl LogitsErrors {
    /// Whether both bounds hold (NaN fails).
    pub fn passed(&self) -> bool {
        self.max_exact <= self.tolerance && self.nll <= self.nll_tolerance
    }
}

impl LlmGolden {
    /// Reads a fixture file, or says why it cannot be used.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a fixture.
    pub fn parse(text: &str) -> Result<Self, String> {
        let golden: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if golden.schema != SCHEMA {
            return Err(format!(
                "schema is `{}`, expected `{SCHEMA}`",
                golden.schema
            ));
        }
        Ok(golden)
    }

    /// Checks that `gguf` is the fixture's model (its sha256).
    pub fn check_model(&self, gguf: &Path) -> Result<(), String> {
        let actual = sha256_file(gguf)?;
        if !actual.eq_ignore_ascii_case(&self.model.sha256) {
            return Err(format!(
                "{} has sha256 {actual}, but the fixture was made from {} (sha256 {})",
                gguf.display(),
                self.model.file,
                self.model.sha256
            ));
        }
        Ok(())
    }

    /// The RoPE of a logits case: the fixture's `hf_config` with the case's RoPE parameters and
    /// `max_position_embeddings`, read as a `config.json`.
    pub fn rope_config(&self, case: &LogitsCase) -> Result<RopeConfig, String> {
        let mut hf = self.model.hf_config.clone();
        let top = hf
            .as_object_mut()
            .ok_or("model.hf_config is not an object")?;
        top.insert(
            "max_position_embeddings".into(),
            json!(case.max_position_embeddings),
        );
        match &case.hf_rope_parameters {
            Some(params) => {
                top.insert("rope_parameters".into(), params.clone());
            }
            None => {
                let theta = top
                    .get("rope_parameters")
                    .and_then(|p| p.get("rope_theta"))
                    .cloned()
                    .ok_or("model.hf_config.rope_parameters.rope_theta is missing")?;
                let mut params = case
                    .rope_scaling
                    .clone()
                    .unwrap_or_else(|| json!({"rope_type": "default"}));
                let dict = params
                    .as_object_mut()
                    .ok_or("rope_scaling is not an object")?;
                dict.insert("rope_theta".into(), theta);
                top.insert("rope_parameters".into(), params);
            }
        }
        RopeConfig::from_hf_json(&hf).map_err(|e| format!("case {}: {e}", case.name))
    }
}

/// The sha256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Checks a tokenize case: `Ok(())` when the ids (and rendered chat) are transformers'.
pub fn check_tokenize(tokenizer: &ChatTokenizer, case: &TokenizeCase) -> Result<(), String> {
    let text = match &case.messages {
        Some(messages) => {
            let rendered = tokenizer
                .render_chat(
                    messages,
                    case.add_generation_prompt.unwrap_or(false),
                    case.chat_template.as_deref(),
                )
                .map_err(|e| e.to_string())?;
            if let Some(formatted) = &case.formatted {
                if &rendered != formatted {
                    return Err(format!(
                        "chat rendered as {rendered:?}, expected {formatted:?}"
                    ));
                }
            }
            rendered
        }
        None => case
            .text
            .clone()
            .ok_or("a tokenize case needs `text` or `messages`")?,
    };
    if case.ids.is_empty() {
        return Err("the case has no ids: it checks nothing".into());
    }
    let ids = tokenizer.encode(&text).map_err(|e| e.to_string())?;
    if ids != case.ids {
        let first = ids
            .iter()
            .zip(&case.ids)
            .take_while(|(a, b)| a == b)
            .count();
        return Err(format!(
            "{} ids, expected {}; first difference at index {first}: {:?} vs {:?}",
            ids.len(),
            case.ids.len(),
            ids.get(first),
            case.ids.get(first)
        ));
    }
    Ok(())
}

/// Each case's name and outcome (or why it could not be checked), in the file's order.
pub type CaseResults = Vec<(String, Result<CaseOutcome, String>)>;

/// Checks a logits case on `model` (whose RoPE is replaced by the case's).
pub fn check_logits<B: RopeBackend>(
    golden: &LlmGolden,
    model: Llama<B>,
    case: &LogitsCase,
    device: &B::Device,
) -> Result<LogitsErrors, String> {
    let n = case.ids.len();
    if n < 2 || case.rows.is_empty() || case.rows.len() != case.rows_exact.len() {
        return Err(format!(
            "{n} ids, {} rows, {} exact rows: the case checks nothing (needs ≥ 2 ids and one row per exact row)",
            case.rows.len(),
            case.rows_exact.len()
        ));
    }
    let offset = *case.position_ids.first().ok_or("position_ids is empty")?;
    if case.position_ids.len() != n
        || case
            .position_ids
            .iter()
            .enumerate()
            .any(|(i, &p)| p != offset + i)
    {
        return Err("position_ids must be contiguous, one per id".into());
    }
    let rope = golden.rope_config(case)?.with_layout(model.rope().layout);
    let model = model.with_rope(&rope, device);
    let ids = Tensor::<B, 2, Int>::from_data(
        TensorData::new(case.ids.iter().map(|&t| i64::from(t)).collect(), [1, n]),
        device,
    );
    // One pass: its hidden states give both the rows' logits and the NLL.
    let hidden = model.hidden(ids, &mut LlamaCache::new(&model, offset));
    let logits = model.logits(hidden.clone());
    let vocab = logits.dims()[2];
    let logits = logits
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .map_err(|e| format!("{e:?}"))?;
    let row = |i: usize| -> Result<&[f32], String> {
        logits
            .get(i * vocab..(i + 1) * vocab)
            .ok_or_else(|| format!("row index {i} is past the {n} ids"))
    };
    let mut max_exact: f64 = 0.0;
    let mut max_hf: f64 = 0.0;
    for (exact, hf) in case.rows_exact.iter().zip(&case.rows) {
        max_exact = nan_max(max_exact, row_error(row(exact.pos_index)?, exact)?);
        max_hf = nan_max(max_hf, row_error(row(hf.pos_index)?, hf)?);
    }
    let nll = model.nll_of_hidden(hidden, &case.ids);
    let nll_mean = nll.iter().sum::<f64>() / nll.len() as f64;
    Ok(LogitsErrors {
        max_exact,
        max_hf,
        nll: (nll_mean - case.nll_mean_exact).abs(),
        tolerance: case.tolerance_exact,
        nll_tolerance: case.nll_tolerance_exact,
    })
}

/// Largest |ours − expected| over a row's logsumexp, top logits and probe logits.
fn row_error(logits: &[f32], expected: &GoldenRow) -> Result<f64, String> {
    if expected.probe_ids.len() != expected.probe_logits.len() || expected.top.is_empty() {
        return Err(format!(
            "row {}: no top logits, or probe ids and logits differ in length",
            expected.pos_index
        ));
    }
    let logit = |id: u32| -> Result<f64, String> {
        logits
            .get(id as usize)
            .map(|&l| f64::from(l))
            .ok_or_else(|| format!("token id {id} is past the vocabulary ({})", logits.len()))
    };
    let max = logits
        .iter()
        .fold(f64::NEG_INFINITY, |m, &l| m.max(f64::from(l)));
    let lse = max
        + logits
            .iter()
            .map(|&l| (f64::from(l) - max).exp())
            .sum::<f64>()
            .ln();
    let mut error = (lse - expected.logsumexp).abs();
    let pairs = expected.top.iter().copied().chain(
        expected
            .probe_ids
            .iter()
            .copied()
            .zip(expected.probe_logits.iter().copied()),
    );
    for (id, value) in pairs {
        error = nan_max(error, (logit(id)? - value).abs());
    }
    Ok(error)
}

/// What a passing or failing case measured.
#[derive(Debug, Clone, Copy)]
pub enum CaseOutcome {
    /// A tokenize case: the ids (and rendered chat) are transformers'.
    Tokenized,
    /// A logits case's errors (see [`LogitsErrors::passed`]).
    Logits(LogitsErrors),
}

impl CaseOutcome {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        match self {
            Self::Tokenized => true,
            Self::Logits(errors) => errors.passed(),
        }
    }
}

/// Checks every case of `golden` against the model at `gguf` (which must be the fixture's:
/// same sha256), on `device`: `(name, outcome)` per case, in order. `Err` when the model cannot
/// be used at all.
pub fn check_cases<B: RopeBackend>(
    golden: &LlmGolden,
    gguf: &Path,
    device: &B::Device,
) -> Result<CaseResults, String> {
    golden.check_model(gguf)?;
    let file = Gguf::open(gguf).map_err(|e| format!("{}: {e}", gguf.display()))?;
    let tokenizer = ChatTokenizer::from_gguf(&file).map_err(|e| e.to_string())?;
    let model =
        Llama::<B>::from_gguf(&file, QkLayout::Half, None, device).map_err(|e| e.to_string())?;
    Ok(golden
        .cases
        .iter()
        .map(|case| {
            let outcome = match case {
                LlmCase::Tokenize(case) => {
                    check_tokenize(&tokenizer, case).map(|()| CaseOutcome::Tokenized)
                }
                LlmCase::Logits(case) => {
                    check_logits(golden, model.clone(), case, device).map(CaseOutcome::Logits)
                }
            };
            (case.name().to_string(), outcome)
        })
        .collect())
}
