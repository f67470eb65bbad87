//! Checks this crate against HuggingFace transformers' / diffusers' golden RoPE vectors.
//!
//! ```text
//! cargo run --release --example hf_parity -- ../tests/fixtures/hf_rope_public.json [--device wgpu]
//! cargo run --release --example hf_parity -- ../tests/fixtures/hf_models_public.json
//! cargo run --release --example hf_parity -- ../tests/fixtures/nd_rope_public.json
//! ```
//!
//! `--device` is `flex` (default), `wgpu` or `cuda` (with `--features cuda`). It reads the
//! three RoPE schemas of `tests/fixtures/README.md`, told apart by their fields
//! (a real model's file, `burn-rotary/llm-golden/v1`, is the Burn 0.21 line's: refused here).
//! Image / video cases (Flux, Wan, Qwen2-VL's vision tower: per-token coordinates) are built
//! from the family's own parameters and compared at 1e-4. Model-level cases (a model's
//! `config.json` and a layer) are read with [`burn_rotary::ModelRopeConfig`] and the layer's
//! outputs compared at 2e-3. For every case of the single-setting file it builds a
//! [`burn_rotary::RopeConfig`] from the case's HF fields, as a user would from a `config.json`,
//! and compares the inverse frequencies (1e-6 relative), the attention factor (1e-6), the
//! outputs rotated with the case's own `inv_freq` (1e-4 at every position) and the outputs of
//! the module built from the config alone (1e-3 at positions up to 8192). It prints one line
//! per case and `N passed, M failed`, and exits 1 when a case fails, 2 when the file or the
//! device cannot be used.

use std::process::ExitCode;

use burn_rotary_suite::cli::parse_or_exit;
use burn_rotary_suite::hf_parity::run_cli;

fn main() -> ExitCode {
    match run_cli(parse_or_exit()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
