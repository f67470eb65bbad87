//! `hf_parity`: this crate against HuggingFace transformers' / diffusers' golden vectors, any
//! file of the four schemas (`tests/fixtures/README.md`), on the chosen backend.

use std::path::PathBuf;

use burn_rotary::RopeBackend;
use clap::Parser;

use crate::backend_choice::{probe, run_on, BackendTask};
use crate::cli;
use crate::hf_fixture::{Case, CaseErrors, Fixture, GoldenFile};
use crate::hf_models_fixture::{ModelCase, ModelCaseErrors, ModelsFixture};
use crate::llama::default_gguf_path;
use crate::llama::golden::{check_cases, CaseOutcome, CaseResults, LlmGolden};
use crate::nd_fixture::{NdCase, NdFixture, OUTPUT_TOLERANCE};

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

/// Checks this crate against HuggingFace transformers' / diffusers' golden RoPE vectors (any
/// file of the three schemas in tests/fixtures/README.md).
#[derive(Parser, Debug)]
#[command(name = "hf_parity")]
pub struct Cli {
    /// A golden file: single RoPE settings, whole-model layers or image/video cases.
    pub file: String,
    /// Backend: ndarray, wgpu or cuda (as built).
    #[arg(long, default_value = "ndarray", value_parser = cli::backend)]
    pub backend: String,
    /// The model of a real-model fixture [default: the file scripts/fetch-smollm2.sh fetches].
    #[arg(long, value_name = "PATH")]
    pub gguf: Option<PathBuf>,
}

/// Checks every case of the file the command line names: one line per case, then `N passed,
/// M failed`; whether every case passed, or why the file cannot be used. The checks are
/// generic over the backend: they are instantiated here, once, so the example binary only
/// parses and calls (its build stays short).
pub fn run_cli(cli: Cli) -> Result<bool, String> {
    let Cli {
        file,
        backend,
        gguf,
    } = cli;
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
    type Output = Result<CaseResults, String>;

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
