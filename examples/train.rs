//! Trains a small decoder-only transformer whose attention rotates q and k with
//! `burn_rotary::Rope`, on `burn-train`'s learner (AdamW, metrics, a checkpoint per epoch), on
//! one device or data-parallel over several with Burn's multi-device strategy.
//!
//! ```text
//! cargo run --release --example train -- [--backend ndarray|wgpu|cuda] [--devices N]
//!     [--steps N] [--steps-per-epoch N] [--text FILE] [--out DIR] [--resume | --eval] ...
//! ```
//! (`--help` lists every flag.)
//!
//! The default task is synthetic key-value retrieval in periodic filler, generated from a seed
//! (see `burn_rotary_suite::data::Retrieval`); `--text FILE` trains a character-level model on
//! any UTF-8 file instead; `--pack` packs each training row with several documents (varlen
//! training, positions restarting at each). The backend name becomes the type parameter of the
//! generic `TrainTask::run` below; nothing else changes between backends.
//!
//! Writes `model.json`, `train.json`, `model.mpk`, `losses.csv`, `loss.svg` and the learner's
//! `checkpoint/` (model, optimiser and schedule of the last epochs) and metric logs to `--out`
//! (default `results/train`). The run works in a copy of that folder and puts it in place only
//! when it succeeds: a run that fails or diverges leaves what an earlier run wrote. `--resume`
//! trains `--steps` more steps from the last epoch's checkpoint (after checking that
//! `model.json` and the text are those it was trained with); `--eval` evaluates the saved model
//! on the fixed evaluation set. The last line is `loss: start X end Y`: the first and the last
//! step's training loss.

use burn_rotary_suite::cli::{parse_with_given, run_main};
use burn_rotary_suite::scaling_bench::AlignedAlloc;
use burn_rotary_suite::train::cli::{run_cli, Cli};

/// Same numbers for a given seed on every run: NdArray's SIMD `recip` depends on buffer
/// alignment (see `burn_rotary_suite::scaling_bench::AlignedAlloc`).
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

fn main() {
    let (cli, given) =
        parse_with_given::<Cli, _, _>(std::env::args_os()).unwrap_or_else(|exit| exit.exit());
    run_main("train", || run_cli(cli, &given))
}
