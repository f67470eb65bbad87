//! Which RoPE scaling should run a model beyond the context it was trained on? Trains small
//! byte-level models (head_dim 64, grouped-query attention) at a short context `L` from 3
//! seeds, on text and on a synthetic retrieval task, scores every scaling method at
//! `L, 2L, 4L, 8L, 16L`, fine-tunes position interpolation and YaRN briefly at `4L`, and prints
//! the tables (mean ± std over seeds) and a verdict against the literature.
//!
//! ```text
//! cargo run --release --example scaling_bench -- [--quick] [--backend ndarray|wgpu|cuda]
//!     [--out DIR] [--retrain] [--seeds N] [--text FILE] [--train-len L] ...
//! ```
//! (`--help` lists every flag, with its default and `--quick`'s.)
//!
//! The text is, by default, the Rust sources of crates pinned by `Cargo.lock`, read from
//! Cargo's registry cache (no download; see `burn_rotary_suite::scaling_bench::corpus`);
//! `--text FILE` uses a file's bytes instead. Trained models are cached in `<out>/models` by
//! everything that determines them; `--retrain` trains anew and replaces them once done.
//! Outputs go to `--out` (default `results/scaling_bench`): `results.md`, `scaling.csv`,
//! `loss.svg`, `loss_by_position.svg`, `accuracy.svg`, `accuracy_heatmap.svg`, `corpus.txt`;
//! each is replaced only when the run has succeeded.

use burn_rotary_suite::cli::run_main;
use burn_rotary_suite::scaling_bench::cli::{parse_args, run_cli};
use burn_rotary_suite::scaling_bench::AlignedAlloc;

/// Same numbers on every run: NdArray's SIMD `recip` depends on buffer alignment.
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

fn main() {
    // One thread per matrix product: the benchmark runs its jobs in parallel instead.
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", "1");
    }
    let args = parse_args(std::env::args_os()).unwrap_or_else(|exit| exit.exit());
    run_main("scaling_bench", || run_cli(args))
}
