//! [`LlamaConfig`]: a Llama-family model's shape and RoPE, read from GGUF metadata.

use burn_rotary::{RopeConfig, RopeLayout};
use serde_json::{json, Map, Value};

use super::error::GgufError;
use super::gguf::Gguf;

/// The largest width, vocabulary or context a file may state (bounds what loading allocates).
const MAX_SIZE: usize = 1 << 24;
/// The most layers or heads a file may state.
const MAX_COUNT: usize = 1 << 12;

/// How the rows of `attn_q` / `attn_k` are used.
///
/// llama.cpp's converter permutes each head's rows of the query and key projections so that
/// rotating interleaved pairs `(2i, 2i+1)` gives what transformers' `rotate_half` gives on the
/// original rows. Either undo the permutation and rotate halves, or keep the file's rows and
/// rotate interleaved pairs: the attention scores, and so the logits, are the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QkLayout {
    /// Un-permute the rows (HF's order) and rotate halves ([`RopeLayout::Half`]).
    #[default]
    Half,
    /// Keep the file's rows and rotate interleaved pairs ([`RopeLayout::Interleaved`]).
    Interleaved,
}

impl QkLayout {
    /// The RoPE layout that goes with these rows.
    pub fn rope_layout(self) -> RopeLayout {
        match self {
            Self::Half => RopeLayout::Half,
            Self::Interleaved => RopeLayout::Interleaved,
        }
    }
}

/// A Llama-family model's shape and RoPE, as its GGUF metadata states them.
#[derive(Debug, Clone)]
pub struct LlamaConfig {
    /// Token ids.
    pub vocab_size: usize,
    /// Width of the residual stream (`llama.embedding_length`).
    pub hidden_size: usize,
    /// Hidden width of the MLP (`llama.feed_forward_length`).
    pub intermediate_size: usize,
    /// Blocks (`llama.block_count`).
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (GQA).
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// RMSNorm's epsilon.
    pub rms_eps: f64,
    /// The trained context (`llama.context_length`).
    pub context_length: usize,
    /// Whether the output head is the token embedding (no `output.weight` tensor).
    pub tied_embeddings: bool,
    /// The RoPE of every layer, from the metadata (layout [`RopeLayout::Half`]).
    pub rope: RopeConfig,
}

impl Gguf {
    /// The model's shape and RoPE, from the metadata ([`LlamaConfig::from_gguf`]).
    pub fn config(&self) -> Result<LlamaConfig, GgufError> {
        LlamaConfig::from_gguf(self)
    }
}

impl LlamaConfig {
    /// Reads the `llama.*` keys (and `rope_freqs.weight`, Llama 3's per-frequency factors, when
    /// the file has it).
    pub fn from_gguf(gguf: &Gguf) -> Result<Self, GgufError> {
        let arch = gguf.string("general.architecture")?;
        if arch != "llama" {
            return Err(GgufError::Architecture(arch.to_string()));
        }
        let key = |name: &str| format!("llama.{name}");
        let hidden_size = gguf.count(&key("embedding_length"), MAX_SIZE, None)?;
        let heads = gguf.count(&key("attention.head_count"), MAX_COUNT, None)?;
        let kv_heads = gguf.count(&key("attention.head_count_kv"), MAX_COUNT, Some(heads))?;
        if heads % kv_heads != 0 {
            return Err(GgufError::metadata(
                &key("attention.head_count_kv"),
                format!("{kv_heads} does not divide the {heads} query heads"),
            ));
        }
        let head_dim = gguf.count(
            &key("attention.key_length"),
            MAX_SIZE,
            Some(hidden_size / heads),
        )?;
        let rotary = gguf.count(&key("rope.dimension_count"), MAX_SIZE, Some(head_dim))?;
        if rotary != head_dim {
            return Err(GgufError::metadata(
                &key("rope.dimension_count"),
                format!("{rotary} differs from the head dim {head_dim} (partial rotary is not supported)"),
            ));
        }
        let tokens = match gguf.value("tokenizer.ggml.tokens") {
            Some(candle_core::quantized::gguf_file::Value::Array(tokens)) => Some(tokens.len()),
            _ => None,
        };
        let vocab_size = gguf.count(&key("vocab_size"), MAX_SIZE, tokens)?;
        let context_length = gguf.count(&key("context_length"), MAX_SIZE, None)?;
        let config = Self {
            vocab_size,
            hidden_size,
            intermediate_size: gguf.count(&key("feed_forward_length"), MAX_SIZE, None)?,
            layers: gguf.count(&key("block_count"), MAX_COUNT, None)?,
            heads,
            kv_heads,
            head_dim,
            rms_eps: gguf.float(&key("attention.layer_norm_rms_epsilon"), None)?,
            context_length,
            tied_embeddings: !gguf.has_tensor("output.weight"),
            rope: rope_config(gguf, head_dim, context_length)?,
        };
        Ok(config)
    }

    /// The shape of each tensor the model reads, rows first (candle's order).
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (d, f, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let (q, kv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let mut shapes = vec![
            ("token_embd.weight".to_string(), vec![v, d]),
            ("output_norm.weight".to_string(), vec![d]),
        ];
        if !self.tied_embeddings {
            shapes.push(("output.weight".to_string(), vec![v, d]));
        }
        for layer in 0..self.layers {
            let name = |n: &str| format!("blk.{layer}.{n}.weight");
            shapes.extend([
                (name("attn_norm"), vec![d]),
                (name("attn_q"), vec![q, d]),
                (name("attn_k"), vec![kv, d]),
                (name("attn_v"), vec![kv, d]),
                (name("attn_output"), vec![d, q]),
                (name("ffn_norm"), vec![d]),
                (name("ffn_gate"), vec![f, d]),
                (name("ffn_up"), vec![f, d]),
                (name("ffn_down"), vec![d, f]),
            ]);
        }
        shapes
    }
}

/// The RoPE the metadata states: θ, the trained context and `llama.rope.scaling.*`, read as
/// transformers reads a `config.json` (through [`RopeConfig::from_hf_json`]); with
/// `rope_freqs.weight`, its per-frequency divisors as custom inverse frequencies.
fn rope_config(gguf: &Gguf, head_dim: usize, context: usize) -> Result<RopeConfig, GgufError> {
    let theta = gguf.float("llama.rope.freq_base", Some(10_000.0))?;
    let mut hf = Map::new();
    hf.insert("head_dim".into(), json!(head_dim));
    hf.insert("max_position_embeddings".into(), json!(context));
    hf.insert("rope_theta".into(), json!(theta));
    let kind = match gguf.value("llama.rope.scaling.type") {
        Some(_) => gguf.string("llama.rope.scaling.type")?,
        None => "none",
    };
    match kind {
        "none" => {}
        "linear" | "yarn" => {
            let factor = gguf.float("llama.rope.scaling.factor", None)?;
            let original = gguf.count(
                "llama.rope.scaling.original_context_length",
                MAX_SIZE,
                Some(context),
            )?;
            hf.insert(
                "rope_scaling".into(),
                json!({"rope_type": kind, "factor": factor, "original_max_position_embeddings": original}),
            );
        }
        other => {
            return Err(GgufError::metadata(
                "llama.rope.scaling.type",
                format!("`{other}` is not one of none, linear, yarn"),
            ))
        }
    }
    let rope = RopeConfig::from_hf_json(&Value::Object(hf))
        .map_err(|e| GgufError::metadata("llama.rope.*", e.to_string()))?;
    if !gguf.has_tensor("rope_freqs.weight") {
        return Ok(rope);
    }
    let divisors = gguf.tensor("rope_freqs.weight", &[head_dim / 2])?;
    let base = rope.frequencies(None).inv_freq;
    let inv_freq = base
        .iter()
        .zip(&divisors)
        .map(|(f, d)| f / f64::from(*d))
        .collect();
    let rope = rope.with_inv_freq(Some(inv_freq));
    rope.validate()
        .map_err(|e| GgufError::metadata("rope_freqs.weight", e.to_string()))?;
    Ok(rope)
}
