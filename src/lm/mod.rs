//! Language-model inference with the example [`Transformer`](crate::model::Transformer):
//! a KV cache whose RoPE positions are the per-row cache lengths ([`kv_cache`]), token-by-token
//! decoding of a batch of prompts of different lengths ([`generate`](mod@generate)), and the
//! tokens of the training tasks as text ([`vocab`]).

pub mod cli;
pub mod generate;
pub mod kv_cache;
pub mod vocab;

pub use generate::{generate, Decoder, Decoding, GenerateConfig, Generation};
pub use kv_cache::KvCache;
pub use vocab::Vocab;
