//! A real pretrained model: a Llama-family GGUF (SmolLM2-135M-Instruct by default) run in Burn
//! with this crate's [`Rope`](burn_rotary::Rope).
//!
//! - [`Gguf`]: the file, opened through candle's GGUF reader after a bounds check of its header;
//!   a bad file is a [`GgufError`] naming what is wrong.
//! - [`LlamaConfig`]: shape and RoPE from the `llama.*` metadata (θ, trained context,
//!   `llama.rope.scaling.*`, Llama 3's `rope_freqs.weight`).
//! - [`Llama`]: RMSNorm, GQA attention through `Rope` (in query chunks, so 32k tokens fit in a
//!   few GiB), SwiGLU, tied embeddings, a KV cache ([`LlamaCache`]).
//! - [`ChatTokenizer`]: the byte-level BPE tokenizer and the chat template.
//! - [`golden`]: the `burn-rotary/llm-golden/v1` fixture checker (transformers' logits).
//! - [`chat`]: greedy chat generation with the cache.
//!
//! `scripts/fetch-smollm2.sh` puts the model at [`default_gguf_path`].
//!
//! ```no_run
//! use burn::backend::NdArray;
//! use burn_rotary_suite::llama::{default_gguf_path, Gguf, Llama, QkLayout};
//!
//! let gguf = Gguf::open(default_gguf_path()).unwrap();
//! let model = Llama::<NdArray>::from_gguf(&gguf, QkLayout::Half, None, &Default::default()).unwrap();
//! ```

mod attention;
pub mod bench;
pub mod chat;
mod config;
mod error;
mod gguf;
pub mod golden;
mod header;
mod model;
mod tokenizer;
mod weights;

use std::path::PathBuf;

pub use attention::causal_attention;
pub use config::{LlamaConfig, QkLayout};
pub use error::GgufError;
pub use gguf::Gguf;
pub use model::{Llama, LlamaCache};
pub use tokenizer::{ChatTokenizer, Message};
pub use weights::unpermute_rows;

/// The file `scripts/fetch-smollm2.sh` fetches.
pub const SMOLLM2_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The environment variable naming the model cache folder.
pub const MODEL_DIR_VAR: &str = "BURN_ROTARY_MODEL_DIR";

/// The model cache folder: `$BURN_ROTARY_MODEL_DIR`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/burn-rotary/models` (as the fetch script sets it).
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(MODEL_DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("burn-rotary").join("models")
}

/// Where `scripts/fetch-smollm2.sh` puts SmolLM2-135M-Instruct.
pub fn default_gguf_path() -> PathBuf {
    model_dir().join(SMOLLM2_FILE)
}
