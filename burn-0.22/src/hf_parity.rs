//! `hf_parity`: this crate against HuggingFace transformers' / diffusers' golden vectors, any
//! file of the three RoPE schemas (`tests/fixtures/README.md`), on the chosen device.

use burn::tensor::Device;
use clap::Parser;

use crate::cli;
use crate::device_choice::started_device;
use crate::hf_fixture::{Case, CaseErrors, Fixture, GoldenFile};
use crate::hf_models_fixture::{ModelCase, ModelCaseErrors, ModelsFixture};
use crate::nd_fixture::{NdCase, NdFixture, OUTPUT_TOLERANCE};

/// One case of a golden file, checked on a device.
trait GoldenCase {
    /// Its errors when it could be checked.
    type Errors;
    fn name(&self) -> &str;
    fn check(&self, device: &Device) -> Result<Self::Errors, String>;
}

macro_rules! golden_case {
    ($case:ty => $errors:ty) => {
        impl GoldenCase for $case {
            type Errors = $errors;
            fn name(&self) -> &str {
                &self.name
            }
            fn check(&self, device: &Device) -> Result<$errors, String> {
                <$case>::check(self, device)
            }
        }
    };
}
golden_case!(Case => CaseErrors);
golden_case!(ModelCase => ModelCaseErrors);
golden_case!(NdCase => f64);

/// Checks every case on `device`: `(name, result)` per case, in order.
fn parity<C: GoldenCase>(cases: &[C], device: &Device) -> Vec<(String, Result<C::Errors, String>)> {
    cases
        .iter()
        .map(|case| (case.name().to_string(), case.check(device)))
        .collect()
}

/// Checks this crate against HuggingFace transformers' / diffusers' golden RoPE vectors (any
/// file of the three schemas in tests/fixtures/README.md).
#[derive(Parser, Debug)]
#[command(name = "hf_parity")]
pub struct Cli {
    /// A golden file: single RoPE settings, whole-model layers or image/video cases.
    pub file: String,
    /// Device: flex, wgpu or cuda (as built).
    #[arg(long, default_value = "flex", value_parser = cli::device)]
    pub device: String,
}

/// Checks every case of the file the command line names: one line per case, then `N passed,
/// M failed`; whether every case passed, or why the file cannot be used (or the device cannot
/// start).
pub fn run_cli(cli: Cli) -> Result<bool, String> {
    let Cli { file, device: name } = cli;
    let golden = GoldenFile::load(&file)?;
    let device = started_device(&name)?;
    let (passed, failed) = match golden {
        GoldenFile::Rope(fixture) => rope_cases(fixture, &file, &name, &device),
        GoldenFile::Models(fixture) => model_cases(fixture, &file, &name, &device),
        GoldenFile::Nd(fixture) => nd_cases(fixture, &file, &name, &device),
    };
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Checks single-setting cases; (passed, failed).
fn rope_cases(fixture: Fixture, file: &str, name: &str, device: &Device) -> (usize, usize) {
    println!(
        "{} cases from {file} ({}), device {name}",
        fixture.cases.len(),
        fixture.generator
    );
    println!(
        "{:<36} {:>11} {:>11} {:>11} {:>11}  result",
        "case", "inv_freq", "attn", "out(freq)", "out(cfg)"
    );
    let results = parity(&fixture.cases, device);
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
    (results.len() - failed, failed)
}

/// Checks model-level cases; (passed, failed).
fn model_cases(fixture: ModelsFixture, file: &str, name: &str, device: &Device) -> (usize, usize) {
    println!(
        "{} model cases from {file} ({}), device {name}",
        fixture.cases.len(),
        fixture.generator
    );
    println!("{:<36} {:>8} {:>11}  result", "case", "rope", "max |err|");
    let results = parity(&fixture.cases, device);
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
    (results.len() - failed, failed)
}

/// Checks image / video cases; (passed, failed).
fn nd_cases(fixture: NdFixture, file: &str, name: &str, device: &Device) -> (usize, usize) {
    println!(
        "{} image / video cases from {file} ({}), device {name}",
        fixture.cases.len(),
        fixture.generator
    );
    let models: Vec<String> = fixture.cases.iter().map(|c| c.model.clone()).collect();
    println!("{:<36} {:<16} {:>11}  result", "case", "model", "max |err|");
    let results = parity(&fixture.cases, device);
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
    (results.len() - failed, failed)
}
