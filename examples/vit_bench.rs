//! Does a ViT with 2-D RoPE work on images larger than it was trained on? Trains small ViTs
//! (1 layer, d_model 128, 8 heads of dim 16, mean pooling) on a synthetic task whose answer is
//! which relative offset between patches repeats a colour (strokes running horizontally,
//! vertically or along either diagonal), on 8×8 grids from 3 seeds, with 2-D axial RoPE and with
//! learned absolute position embeddings; then scores them on grids up to 32×32 with RoPE as
//! trained, RoPE stretched by coordinate interpolation or by NTK θ scaling per axis, and the
//! learned embeddings resampled bilinearly. Prints the tables (mean ± std over seeds) and a
//! verdict; see `burn_rotary_suite::vision`.
//!
//! ```text
//! cargo run --release --example vit_bench -- [--quick] [--backend ndarray|wgpu|cuda]
//!     [--out DIR] [--seeds N] [--workers N] [--train-grid N] [--grids 8,12,16,24,32]
//!     [--steps N] [--batch-size N] [--lr X] [--warmup N] [--weight-decay X] [--eval-images N]
//!     [--min-eval-images N] [--eval-batch-tokens N] [--colours N] [--keep X] [--d-model N]
//!     [--layers N] [--heads N] [--d-ff N] [--theta X] [--ape-init-base X] [--ape-init-scale X]
//! ```
//!
//! Outputs go to `--out` (default `results/vit_bench`): `results.md`, `vit_bench.csv`,
//! `accuracy.svg`, `loss.svg`; each is replaced only when the run has succeeded.

use burn_rotary_suite::cli::run_main;
use burn_rotary_suite::scaling_bench::AlignedAlloc;
use burn_rotary_suite::vision::{parse_args, run_cli, CliExit};

/// Same numbers on every run: NdArray's SIMD `recip` depends on buffer alignment.
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

fn main() {
    // One thread per matrix product: the benchmark runs its jobs in parallel instead.
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", "1");
    }
    let args = match parse_args(std::env::args()) {
        Ok(args) => args,
        Err(CliExit::Help(text)) => {
            print!("{text}");
            return;
        }
        Err(CliExit::Error(e)) => {
            eprintln!("vit_bench: {e}");
            std::process::exit(2);
        }
    };
    run_main("vit_bench", || run_cli(args))
}
