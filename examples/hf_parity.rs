//! Checks this crate against HuggingFace transformers' golden RoPE vectors.
//!
//! ```text
//! cargo run --release --example hf_parity -- tests/fixtures/hf_rope_public.json [--backend ndarray|wgpu|cuda]
//! ```
//!
//! For every case of the file it builds a [`burn_rotary::RopeConfig`] from the case's HF fields,
//! as a user would from a `config.json`, and compares the inverse frequencies (1e-6 relative),
//! the attention factor (1e-6), the outputs rotated with the case's own `inv_freq` (1e-4 at
//! every position) and the outputs of the module built from the config alone (1e-3 at
//! positions up to 8192). It prints one line per case and `N passed, M failed`, and exits
//! non-zero when a case fails or the file cannot be used.

use std::process::ExitCode;

use burn_rotary::RopeBackend;
use burn_rotary_suite::backend_choice::{probe, run_on, BackendTask};
use burn_rotary_suite::hf_fixture::{CaseErrors, Fixture};

struct Parity(Fixture);

impl BackendTask for Parity {
    type Output = Vec<(String, Result<CaseErrors, String>)>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Self::Output {
        self.0
            .cases
            .iter()
            .map(|case| (case.name.clone(), case.check::<B>(&device)))
            .collect()
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<bool, String> {
    let usage = "usage: hf_parity FILE [--backend ndarray|wgpu|cuda]";
    let mut args = std::env::args().skip(1);
    let (mut file, mut backend) = (None, "ndarray".to_string());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = args.next().ok_or(usage)?,
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(true);
            }
            _ if file.is_none() && !arg.starts_with("--") => file = Some(arg),
            other => return Err(format!("unexpected argument `{other}`\n{usage}")),
        }
    }
    let file = file.ok_or(usage)?;
    let fixture = Fixture::load(&file)?;
    probe(&backend)?;
    println!(
        "{} cases from {file} ({}), backend {backend}",
        fixture.cases.len(),
        fixture.generator
    );
    println!(
        "{:<36} {:>11} {:>11} {:>11} {:>11}  result",
        "case", "inv_freq", "attn", "out(freq)", "out(cfg)"
    );
    let results = run_on(&backend, Parity(fixture))?;
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(e) => {
                let verdict = if e.passed() { "ok" } else { "FAIL" };
                failed += usize::from(!e.passed());
                println!(
                    "{name:<36} {:>11.2e} {:>11.2e} {:>11.2e} {:>11.2e}  {verdict}",
                    e.inv_freq_rel, e.attention_factor, e.custom_freq, e.from_config
                );
            }
            Err(message) => {
                failed += 1;
                println!("{name:<36} FAIL: {message}");
            }
        }
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    Ok(failed == 0)
}
