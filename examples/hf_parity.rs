//! Checks this crate against HuggingFace transformers' golden RoPE vectors.
//!
//! ```text
//! cargo run --release --example hf_parity -- tests/fixtures/hf_rope_public.json [--backend ndarray|wgpu|cuda]
//! cargo run --release --example hf_parity -- tests/fixtures/hf_models_public.json
//! cargo run --release --example hf_parity -- tests/fixtures/nd_rope_public.json
//! cargo run --release --example hf_parity -- tests/fixtures/smollm2_public.json [--gguf PATH]
//! ```
//!
//! It reads the four schemas, told apart by their fields. A real model's cases
//! (`burn-rotary/llm-golden/v1`) load the GGUF the fixture was made from (`--gguf`, default the
//! file `scripts/fetch-smollm2.sh` fetches; its sha256 must match) into
//! [`burn_rotary_suite::llama::Llama`]: transformers' ids for every tokenize case, and each logits
//! case within its `tolerance_exact` of the float64 exact-angle reference (largest error printed,
//! with the distance to transformers' own float32 logits beside it). Image / video cases (Flux, Wan,
//! Qwen2-VL's vision tower: per-token coordinates) are built from the family's own parameters
//! and compared at 1e-4. Model-level cases (a model's
//! `config.json` and a layer) are read with [`burn_rotary::ModelRopeConfig`] and the layer's
//! outputs compared at 2e-3. For every case of the single-setting file it builds a [`burn_rotary::RopeConfig`] from the case's HF fields,
//! as a user would from a `config.json`, and compares the inverse frequencies (1e-6 relative),
//! the attention factor (1e-6), the outputs rotated with the case's own `inv_freq` (1e-4 at
//! every position) and the outputs of the module built from the config alone (1e-3 at
//! positions up to 8192). It prints one line per case and `N passed, M failed`, and exits
//! non-zero when a case fails or the file cannot be used.

use std::process::ExitCode;

use burn_rotary::RopeBackend;
use burn_rotary_suite::backend_choice::{probe, run_on, BackendTask};
use burn_rotary_suite::cli;
use burn_rotary_suite::hf_fixture::{Case, CaseErrors, Fixture, GoldenFile};
use burn_rotary_suite::hf_models_fixture::{ModelCase, ModelCaseErrors, ModelsFixture};
use burn_rotary_suite::llama::default_gguf_path;
use burn_rotary_suite::llama::golden::{check_cases, CaseOutcome, LlmGolden};
use burn_rotary_suite::nd_fixture::{NdCase, NdFixture, OUTPUT_TOLERANCE};
use clap::Parser;
use std::path::PathBuf;

/// One case of a golden file, checked on a backend.
trait GoldenCase {
    /// Its errors when it could be checked.
    type Errors;
    fn name(&self) -> &str;
    fn check<B: RopeBackend>(&self, device: &B::Device) -> Result<Self::Errors, String>;
}

macro_rules! golden_case {
    ($case:ty => $errors:ty) => {
        impl GoldenCase for $case {
            type Errors = $errors;
            fn name(&self) -> &str {
                &self.name
            }
            fn check<B: RopeBackend>(&self, device: &B::Device) -> Result<$errors, String> {
                <$case>::check::<B>(self, device)
            }
        }
    };
}
golden_case!(Case => CaseErrors);
golden_case!(ModelCase => ModelCaseErrors);
golden_case!(NdCase => f64);

/// Checks every case of a file on the chosen backend: `(name, result)` per case, in order.
struct Parity<C>(Vec<C>);

impl<C: GoldenCase> BackendTask for Parity<C> {
    type Output = Vec<(String, Result<C::Errors, String>)>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Self::Output {
        self.0
            .iter()
            .map(|case| (case.name().to_string(), case.check::<B>(&device)))
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

/// Checks this crate against HuggingFace transformers' / diffusers' golden RoPE vectors (any
/// file of the three schemas in tests/fixtures/README.md).
#[derive(Parser, Debug)]
#[command(name = "hf_parity")]
struct Cli {
    /// A golden file: single RoPE settings, whole-model layers or image/video cases.
    file: String,
    /// Backend: ndarray, wgpu or cuda (as built).
    #[arg(long, default_value = "ndarray", value_parser = cli::backend)]
    backend: String,
    /// The model of a real-model fixture [default: the file scripts/fetch-smollm2.sh fetches].
    #[arg(long, value_name = "PATH")]
    gguf: Option<PathBuf>,
}

fn run() -> Result<bool, String> {
    let Cli {
        file,
        backend,
        gguf,
    } = cli::parse_or_exit();
    let golden = GoldenFile::load(&file)?;
    probe(&backend)?;
    let (passed, failed) = match golden {
        GoldenFile::Rope(fixture) => rope_cases(fixture, &file, &backend)?,
        GoldenFile::Models(fixture) => model_cases(fixture, &file, &backend)?,
        GoldenFile::Nd(fixture) => nd_cases(fixture, &file, &backend)?,
        GoldenFile::Llm(golden) => {
            let gguf = gguf.unwrap_or_else(default_gguf_path);
            llm_cases(golden, &file, &gguf, &backend)?
        }
    };
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Checks single-setting cases; (passed, failed).
fn rope_cases(fixture: Fixture, file: &str, backend: &str) -> Result<(usize, usize), String> {
    println!(
        "{} cases from {file} ({}), backend {backend}",
        fixture.cases.len(),
        fixture.generator
    );
    println!(
        "{:<36} {:>11} {:>11} {:>11} {:>11}  result",
        "case", "inv_freq", "attn", "out(freq)", "out(cfg)"
    );
    let results = run_on(backend, Parity(fixture.cases))?;
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
    Ok((results.len() - failed, failed))
}

/// Checks model-level cases; (passed, failed).
fn model_cases(
    fixture: ModelsFixture,
    file: &str,
    backend: &str,
) -> Result<(usize, usize), String> {
    println!(
        "{} model cases from {file} ({}), backend {backend}",
        fixture.cases.len(),
        fixture.generator
    );
    println!("{:<36} {:>8} {:>11}  result", "case", "rope", "max |err|");
    let results = run_on(backend, Parity(fixture.cases))?;
    let mut failed = 0;
    for (name, result) in &results {
        match result {
            Ok(e) => {
                let verdict = match (e.passed(), e.expected_uses_rope) {
                    (true, _) => "ok".to_string(),
                    (false, Some(hf)) if hf != e.uses_rope => format!("FAIL (HF uses_rope = {hf})"),
                    (false, _) => "FAIL".to_string(),
                };
                failed += usize::from(!e.passed());
                let rope = if e.uses_rope { "rope" } else { "none" };
                println!("{name:<36} {rope:>8} {:>11.2e}  {verdict}", e.max_abs);
            }
            Err(message) => {
                failed += 1;
                println!("{name:<36} FAIL: {message}");
            }
        }
    }
    Ok((results.len() - failed, failed))
}

/// Checks image / video cases; (passed, failed).
fn nd_cases(fixture: NdFixture, file: &str, backend: &str) -> Result<(usize, usize), String> {
    println!(
        "{} image / video cases from {file} ({}), backend {backend}",
        fixture.cases.len(),
        fixture.generator
    );
    let models: Vec<String> = fixture.cases.iter().map(|c| c.model.clone()).collect();
    println!("{:<36} {:<16} {:>11}  result", "case", "model", "max |err|");
    let results = run_on(backend, Parity(fixture.cases))?;
    let mut failed = 0;
    for ((name, result), model) in results.iter().zip(&models) {
        match result {
            Ok(error) => {
                let passed = *error <= OUTPUT_TOLERANCE;
                failed += usize::from(!passed);
                let verdict = if passed { "ok" } else { "FAIL" };
                println!("{name:<36} {model:<16} {error:>11.2e}  {verdict}");
            }
            Err(message) => {
                failed += 1;
                println!("{name:<36} {model:<16} FAIL: {message}");
            }
        }
    }
    Ok((results.len() - failed, failed))
}

/// Checks a real model's cases with the model at `gguf` on the backend.
struct LlmParity {
    golden: LlmGolden,
    gguf: PathBuf,
}

impl BackendTask for LlmParity {
    type Output = Result<Vec<(String, Result<CaseOutcome, String>)>, String>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Self::Output {
        check_cases::<B>(&self.golden, &self.gguf, &device)
    }
}

/// Checks real-model cases; (passed, failed).
fn llm_cases(
    golden: LlmGolden,
    file: &str,
    gguf: &std::path::Path,
    backend: &str,
) -> Result<(usize, usize), String> {
    println!(
        "{} real-model cases from {file} ({}), model {}, backend {backend}",
        golden.cases.len(),
        golden.model.file,
        gguf.display()
    );
    println!(
        "{:<36} {:>11} {:>11} {:>11} {:>11}  result",
        "case", "max |err|", "tolerance", "vs HF f32", "nll err"
    );
    let gguf = gguf.to_path_buf();
    let results = run_on(backend, LlmParity { golden, gguf })??;
    let mut failed = 0;
    for (name, result) in &results {
        let passed = result.as_ref().is_ok_and(CaseOutcome::passed);
        failed += usize::from(!passed);
        let verdict = if passed { "ok" } else { "FAIL" };
        match result {
            Ok(CaseOutcome::Tokenized) => println!("{name:<36} {:>11}  ok (ids equal)", "-"),
            Ok(CaseOutcome::Logits(e)) => println!(
                "{name:<36} {:>11.2e} {:>11.2e} {:>11.2e} {:>11.2e}  {verdict}",
                e.max_exact, e.tolerance, e.max_hf, e.nll
            ),
            Err(message) => println!("{name:<36} FAIL: {message}"),
        }
    }
    Ok((results.len() - failed, failed))
}
