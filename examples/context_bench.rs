//! Which RoPE scaling lets a pretrained model read past its trained context? SmolLM2-135M
//! (trained at 8192) scored by perplexity at 4k–32k and by passkey retrieval, with no scaling,
//! PI, NTK-aware, dynamic NTK, YaRN and Llama 3, each factor set from the length it runs at.
//!
//! ```text
//! scripts/fetch-smollm2.sh
//! cargo run --release --example context_bench -- --quick            # 2-core CPU, ≤ 20 min
//! cargo run --release --example context_bench -- --backend cuda     # the full run, on a GPU
//! ```
//!
//! Writes `context.md` (tables and verdict), `context.csv`, `perplexity.svg` and `passkey.svg`
//! to `--out`; every cell is cached in `--out/cells/` as it finishes, so a rerun resumes.
//! See `burn_rotary_suite::llama::bench`.

use burn_rotary_suite::cli::{parse_or_exit, run_main};
use burn_rotary_suite::llama::bench::cli::run_cli;

fn main() {
    run_main("context_bench", || run_cli(parse_or_exit()))
}
