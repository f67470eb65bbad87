//! Generates text (or retrieval-task tokens) with a model that `examples/train.rs` saved,
//! decoding token by token with a KV cache whose RoPE positions are the per-row cache lengths.
//!
//! ```text
//! cargo run --release --example generate -- [--checkpoint DIR] [--backend ndarray|wgpu|cuda]
//!     [--prompt TEXT]... [--tokens N] [--batch N] [--prompt-len N] [--temperature X]
//!     [--seed N] [--no-cache] [--compare] [--warmup N] [--dynamic-ntk FACTOR]
//! ```
//!
//! Prompts of different lengths are left-padded into one batch: each row's tokens sit at their
//! own positions (RoPE offsets = that row's cache length) and pad columns are masked out, so a
//! row generates what it would alone (see `burn_rotary_suite::lm::kv_cache`). Without
//! `--prompt`, `--batch` prompts are drawn from the training task (retrieval: sequences ending
//! with their query `? key`, whose expected answer is printed beside the generated tokens).
//! Prints each prompt and its continuation, then the prefill time and the decoding tokens/s.
//!
//! With `--gguf PATH` it chats with a pretrained Llama-family model instead (SmolLM2-135M-Instruct
//! from `scripts/fetch-smollm2.sh`, or any Llama GGUF): each `--prompt` is one user message
//! through the file's chat template, answered greedily with the KV cache (at most `--tokens`
//! new tokens, stopping at the end-of-sequence token).
//!
//! ```text
//! cargo run --release --example generate -- --gguf PATH --prompt "What is the capital of France?"
//! ```

use burn_rotary_suite::cli::{parse_or_exit, run_main};
use burn_rotary_suite::lm::cli::run_cli;

fn main() {
    run_main("generate", || run_cli(parse_or_exit()))
}
