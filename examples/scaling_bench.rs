//! Which RoPE scaling should run a model beyond the context it was trained on? Trains small
//! byte-level models (head_dim 64, grouped-query attention) at a short context `L` from 3
//! seeds, on text and on a synthetic retrieval task, scores every scaling method at
//! `L, 2L, 4L, 8L, 16L`, fine-tunes position interpolation and YaRN briefly at `4L`, and prints
//! the tables (mean ± std over seeds) and a verdict against the literature.
//!
//! ```text
//! cargo run --release --example scaling_bench -- [--quick] [--backend ndarray|wgpu|cuda]
//!     [--out DIR] [--retrain] [--seeds N] [--workers N] [--text FILE] [--train-len L]
//!     [--steps N] [--retrieval-steps N] [--retrieval-lr X] [--no-retrieval] [--pairs N] [--batch-size N] [--lr X]
//!     [--ratios 1,2,4,8,16] [--eval-tokens N] [--eval-per-depth N] [--eval-batch-tokens N]
//!     [--search-tokens N] [--finetune STEPS] [--finetune-ratio R] [--d-model N] [--layers N]
//!     [--heads N] [--kv-heads N] [--d-ff N] [--theta X] [--longrope-factors F1,F2,..]
//! ```
//!
//! The text is, by default, the Rust sources of crates pinned by `Cargo.lock`, read from
//! Cargo's registry cache (no download; see `burn_rotary_suite::scaling_bench::corpus`);
//! `--text FILE` uses a file's bytes instead. Trained models are cached in `<out>/models` by
//! everything that determines them; `--retrain` trains anew and replaces them once done.
//! Outputs go to `--out` (default `results/scaling_bench`): `results.md`, `scaling.csv`,
//! `loss.svg`, `loss_by_position.svg`, `accuracy.svg`, `accuracy_heatmap.svg`, `corpus.txt`;
//! each is replaced only when the run has succeeded.

use std::path::PathBuf;

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::{RopeBackend, RopeConfig};
use burn_rotary_suite::backend_choice::{run_train_on, TrainTask};
use burn_rotary_suite::scaling_bench::{
    markdown, run, write_csv, write_plots, AlignedAlloc, BenchConfig, TextSource,
};

/// Same numbers on every run: NdArray's SIMD `recip` depends on buffer alignment.
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

const USAGE: &str = "usage: scaling_bench [--quick] [--backend ndarray|wgpu|cuda] [--out DIR] \
    [--retrain] [--seeds N] [--workers N] [--text FILE] [--train-len L] [--steps N] \
    [--retrieval-steps N] [--retrieval-lr X] [--no-retrieval] [--pairs N] [--batch-size N] [--lr X] \
    [--ratios 1,2,4,8,16] [--eval-tokens N] [--eval-per-depth N] [--eval-batch-tokens N] \
    [--search-tokens N] [--finetune STEPS] [--finetune-ratio R] [--d-model N] [--layers N] \
    [--heads N] [--kv-heads N] [--d-ff N] [--theta X] [--longrope-factors F1,F2,..]";

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
        let c = &self.config;
        eprintln!(
            "scaling_bench on {} with {} workers: trained at {} from seeds {:?}, scored at {:?}",
            B::name(&device),
            c.workers,
            c.train_len(),
            c.seeds,
            c.lengths()
        );
        let corpus = c.text.load()?;
        let results = run::<B>(c, &self.out, self.retrain, true, &device)?;
        let summary = markdown(&results);
        println!("{summary}");
        let write_err = |e: std::io::Error| format!("cannot write to {}: {e}", self.out.display());
        let write = |name: &str, text: &str| {
            burn_rotary_suite::scaling_bench::write_atomic(&self.out.join(name), text)
                .map_err(write_err)
        };
        write("results.md", &summary)?;
        let manifest = format!(
            "# {}\n# FNV-1a {:016x}\n{}\n",
            corpus.source,
            corpus.fingerprint,
            corpus.files.join("\n")
        );
        write("corpus.txt", &manifest)?;
        let csv = write_csv(&results, &self.out).map_err(write_err)?;
        println!("csv: {}", csv.display());
        println!("corpus files: {}", self.out.join("corpus.txt").display());
        for (plot, what) in write_plots(&results, &self.out).map_err(write_err)? {
            println!("plot: {} — {what}", plot.display());
        }
        println!("models: {}", results.models_source);
        println!(
            "wall time: {:.1} s on {} workers",
            results.seconds, results.workers
        );
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
    let mut iter = args.into_iter();
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        let model = &mut config.model;
        match flag.as_str() {
            "--quick" => {}
            "--retrain" => parsed.retrain = true,
            "--backend" => parsed.backend = value()?,
            "--out" => parsed.out = PathBuf::from(value()?),
            "--seeds" => {
                let n: u64 = number(&flag, &value()?)?;
                config.seeds = (1..=n).collect();
            }
            "--workers" => config.workers = number(&flag, &value()?)?,
            "--text" => config.text = TextSource::File(PathBuf::from(value()?)),
            "--train-len" => config.train.seq_len = number(&flag, &value()?)?,
            "--steps" => config.train.steps = number(&flag, &value()?)?,
            "--retrieval-steps" => config.retrieval_train.steps = number(&flag, &value()?)?,
            "--retrieval-lr" => {
                config.retrieval_train.learning_rate = number(&flag, &value()?)?;
            }
            "--no-retrieval" => config.retrieval = None,
            "--pairs" => {
                let pairs = number(&flag, &value()?)?;
                match &mut config.retrieval {
                    Some(r) => r.n_pairs = pairs,
                    None => {
                        return Err("--pairs: the retrieval task is off (--no-retrieval)".into())
                    }
                }
            }
            "--batch-size" => config.train.batch_size = number(&flag, &value()?)?,
            "--lr" => config.train.learning_rate = number(&flag, &value()?)?,
            "--ratios" => config.ratios = list(&flag, &value()?)?,
            "--eval-tokens" => config.eval_tokens = number(&flag, &value()?)?,
            "--eval-per-depth" => config.eval_per_depth = number(&flag, &value()?)?,
            "--eval-batch-tokens" => config.eval_batch_tokens = number(&flag, &value()?)?,
            "--search-tokens" => config.search_tokens = number(&flag, &value()?)?,
            "--finetune" => config.finetune_steps = number(&flag, &value()?)?,
            "--finetune-ratio" => config.finetune_ratio = number(&flag, &value()?)?,
            "--layers" => model.n_layers = number(&flag, &value()?)?,
            "--d-model" => model.d_model = number(&flag, &value()?)?,
            "--heads" => model.n_heads = number(&flag, &value()?)?,
            "--kv-heads" => model.n_kv_heads = Some(number(&flag, &value()?)?),
            "--d-ff" => model.d_ff = number(&flag, &value()?)?,
            "--theta" => model.rope.theta = number(&flag, &value()?)?,
            "--longrope-factors" => config.long_factor = Some(list(&flag, &value()?)?),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    let model = &mut config.model;
    model.rope = RopeConfig {
        head_dim: model.head_dim(),
        ..model.rope.clone()
    };
    if model.n_heads == 0 || model.d_model % model.n_heads != 0 {
        return Err(format!(
            "--heads must divide --d-model: {} heads, d_model {}",
            model.n_heads, model.d_model
        ));
    }
    config.validate()?;
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
    // One thread per matrix product: the benchmark runs its jobs in parallel instead.
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", "1");
    }
    let result = parse(std::env::args().skip(1))
        .and_then(|args| run_train_on(&args.backend.clone(), args).and_then(|r| r));
    if let Err(e) = result {
        eprintln!("scaling_bench: {e}");
        std::process::exit(1);
    }
}
