//! Which RoPE scaling should run a model beyond the context it was trained on, and what does
//! it cost? Trains (or loads) the training example's model at a short context `L`, scores it at
//! `L, 2L, 4L, 8L, 16L` with every scaling method applied at inference, and writes a markdown
//! table, a CSV and SVG plots.
//!
//! ```text
//! cargo run --release --example scaling_bench -- [--quick] [--backend ndarray|wgpu|cuda]
//!     [--out DIR] [--finetune STEPS] [--train-len L] [--ratios 1,2,4,8,16] [--steps N]
//!     [--eval-batches N] [--eval-batch-size N] [--d-model N] [--layers N] [--heads N]
//!     [--kv-heads N] [--text FILE] [--longrope-factors F1,F2,..] [--retrain]
//! ```
//!
//! The default (`L = 64`, scored up to 1024) takes about 3 minutes on 2 CPU cores, training
//! included; the trained model is cached in `<out>/model` and reused when the configs match.
//! `--quick` is the smallest run that still shows every method and length (`L = 16`).
//! Outputs go to `--out` (default `results/scaling_bench`): `results.md`, `scaling.csv`,
//! `accuracy.svg`, `loss.svg`.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::{RopeBackend, RopeConfig};
use burn_rotary_suite::backend_choice::{run_train_on, TrainTask};
use burn_rotary_suite::data::TaskSpec;
use burn_rotary_suite::scaling_bench::{markdown, run, write_csv, write_plots, BenchConfig};

const USAGE: &str = "usage: scaling_bench [--quick] [--backend ndarray|wgpu|cuda] [--out DIR] \
    [--finetune STEPS] [--train-len L] [--ratios 1,2,4,8,16] [--steps N] [--eval-batches N] \
    [--eval-batch-size N] [--d-model N] [--layers N] [--heads N] [--kv-heads N] [--text FILE] \
    [--longrope-factors F1,F2,..] [--retrain]";

struct Args {
    backend: String,
    out: PathBuf,
    retrain: bool,
    config: BenchConfig,
}

impl TrainTask for Args {
    type Output = Result<(), String>;

    fn run<B>(self, device: B::Device) -> Result<(), String>
    where
        B: AutodiffBackend + RopeBackend,
        B::InnerBackend: RopeBackend,
    {
        std::fs::create_dir_all(&self.out)
            .map_err(|e| format!("cannot create {}: {e}", self.out.display()))?;
        if self.retrain {
            std::fs::remove_dir_all(self.out.join("model")).ok();
        }
        eprintln!(
            "scaling_bench on {}: trained at {}, scored at {:?}",
            B::name(&device),
            self.config.train_len(),
            self.config.lengths()
        );
        let results = run::<B>(&self.config, &self.out, true, &device)?;
        let summary = markdown(&results);
        println!("{summary}");
        let write_err = |e: std::io::Error| format!("cannot write to {}: {e}", self.out.display());
        std::fs::write(self.out.join("results.md"), &summary).map_err(write_err)?;
        let csv = write_csv(&results, &self.out).map_err(write_err)?;
        let plots = write_plots(&results, &self.out).map_err(write_err)?;
        println!("csv: {}", csv.display());
        for plot in plots {
            println!("plot: {}", plot.display());
        }
        println!("done in {:.1} s", results.seconds);
        Ok(())
    }
}

fn parse(args: impl Iterator<Item = String>) -> Result<Args, String> {
    let args: Vec<String> = args.collect();
    let mut config = if args.iter().any(|a| a == "--quick") {
        BenchConfig::quick()
    } else {
        BenchConfig::standard()
    };
    let mut parsed = Args {
        backend: "ndarray".into(),
        out: PathBuf::from("results/scaling_bench"),
        retrain: false,
        config: config.clone(),
    };
    let (mut d_model, mut heads, mut kv_heads) = (None, None, None);
    let mut iter = args.into_iter();
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--quick" => {}
            "--retrain" => parsed.retrain = true,
            "--backend" => parsed.backend = value()?,
            "--out" => parsed.out = PathBuf::from(value()?),
            "--finetune" => config.finetune_steps = number(&flag, &value()?)?,
            "--train-len" => config.train.seq_len = number(&flag, &value()?)?,
            "--steps" => config.train.steps = number(&flag, &value()?)?,
            "--ratios" => config.ratios = list(&flag, &value()?)?,
            "--eval-batches" => config.eval_batches = number(&flag, &value()?)?,
            "--eval-batch-size" => config.eval_batch_size = number(&flag, &value()?)?,
            "--layers" => config.model.n_layers = number(&flag, &value()?)?,
            "--d-model" => d_model = Some(number(&flag, &value()?)?),
            "--heads" => heads = Some(number(&flag, &value()?)?),
            "--kv-heads" => kv_heads = Some(number(&flag, &value()?)?),
            "--longrope-factors" => config.long_factor = Some(list(&flag, &value()?)?),
            "--text" => {
                let spec = TaskSpec::Text(PathBuf::from(value()?));
                config.model.vocab_size = spec.load()?.vocab_size();
                config.task = spec;
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let model = &mut config.model;
    model.d_model = d_model.unwrap_or(model.d_model);
    model.n_heads = heads.unwrap_or(model.n_heads);
    model.n_kv_heads = kv_heads.or(model.n_kv_heads);
    model.rope = RopeConfig {
        head_dim: model.head_dim(),
        ..model.rope.clone()
    };
    model.validate()?;
    if config.ratios.is_empty() || config.ratios.contains(&0) {
        return Err(format!(
            "--ratios must be positive integers, got {:?}",
            config.ratios
        ));
    }
    if let Some(f) = &config.long_factor {
        let half = model.rope.rotary_dim() / 2;
        if f.len() != half || f.iter().any(|x| !x.is_finite() || *x <= 0.0) {
            return Err(format!(
                "--longrope-factors needs {half} positive numbers (rotary_dim / 2), got {f:?}"
            ));
        }
    }
    parsed.config = config;
    Ok(parsed)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: `{value}` is not a valid number"))
}

fn list<T: std::str::FromStr>(flag: &str, value: &str) -> Result<Vec<T>, String> {
    value.split(',').map(|v| number(flag, v.trim())).collect()
}

fn main() {
    let result = parse(std::env::args().skip(1))
        .and_then(|args| run_train_on(&args.backend.clone(), args).and_then(|r| r));
    if let Err(e) = result {
        eprintln!("scaling_bench: {e}");
        std::process::exit(1);
    }
}
