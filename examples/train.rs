//! Trains a small decoder-only transformer whose attention rotates q and k with
//! `burn_rotary::Rope`, with Burn's `Autodiff` backend and AdamW.
//!
//! ```text
//! cargo run --release --example train -- [--backend ndarray|wgpu|cuda] [--steps N]
//!     [--text FILE] [--out DIR] [--resume] [--eval]
//!     [--batch-size N] [--seq-len N] [--lr X] [--seed N]
//!     [--layers N] [--d-model N] [--heads N] [--kv-heads N] [--d-ff N] [--untied] [--pairs N]
//! ```
//!
//! The default task is synthetic key-value retrieval in periodic filler, generated from a seed
//! (see `burn_rotary_suite::data::Retrieval`); `--text FILE` trains a character-level model on
//! any UTF-8 file instead. The backend name becomes the type parameter of the generic
//! `TrainTask::run` below; nothing else changes between backends.
//!
//! Writes `model.json`, `train.json`, `model.mpk`, `optimizer.mpk`, `losses.csv` and
//! `loss.svg` to `--out` (default `results/train`). `--resume` trains `--steps` more steps from
//! them; `--eval` loads the model and evaluates it on the fixed evaluation set, giving the
//! numbers printed at the end of training. The last line is `loss: start X end Y`: the first
//! and the last step's training loss.

use std::path::PathBuf;

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::AutodiffBackend;
use burn_rotary::{RopeBackend, RopeConfig};
use burn_rotary_suite::backend_choice::{run_train_on, TrainTask};
use burn_rotary_suite::checkpoint::{Checkpoint, TrainState};
use burn_rotary_suite::data::{Retrieval, Task, TaskSpec};
use burn_rotary_suite::model::{Transformer, TransformerConfig};
use burn_rotary_suite::plot::LineChart;
use burn_rotary_suite::scaling_bench::AlignedAlloc;
use burn_rotary_suite::train::{evaluate, train, Eval, TrainConfig, TrainReport};

/// Same numbers for a given seed on every run: NdArray's SIMD `recip` depends on buffer
/// alignment (see `burn_rotary_suite::scaling_bench::AlignedAlloc`).
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

const USAGE: &str = "usage: train [--backend ndarray|wgpu|cuda] [--steps N] [--text FILE] \
    [--out DIR] [--resume] [--eval] [--batch-size N] [--seq-len N] [--lr X] [--seed N] \
    [--layers N] [--d-model N] [--heads N] [--kv-heads N] [--d-ff N] [--untied] [--pairs N]";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    New,
    Resume,
    Eval,
}

struct Args {
    backend: String,
    mode: Mode,
    checkpoint: Checkpoint,
    /// `--steps`, which also applies to a resumed run.
    steps: Option<usize>,
    model: TransformerConfig,
    train: TrainConfig,
    task: TaskSpec,
}

impl TrainTask for Args {
    type Output = Result<(), String>;

    fn run<B>(self, device: B::Device) -> Result<(), String>
    where
        B: AutodiffBackend + RopeBackend,
        B::InnerBackend: RopeBackend,
    {
        let (model_config, mut state) = match self.mode {
            Mode::New => {
                let state = TrainState {
                    train: self.train,
                    task: self.task,
                    steps_done: 0,
                };
                (self.model, state)
            }
            Mode::Resume | Mode::Eval => self.checkpoint.load_configs()?,
        };
        if let Some(steps) = self.steps {
            state.train.steps = steps;
        }
        let task = state.task.load()?;
        let eval_set = state.train.eval_set(&task, state.train.seq_len);
        let evaluate = |model: &Transformer<B>| evaluate(&model.valid(), &eval_set, &device);
        let eval_what = format!(
            "fixed set of {} sequences of {} tokens",
            eval_set.len() * state.train.batch_size,
            state.train.seq_len
        );

        let mut optimizer = state.train.optimizer().init::<B, Transformer<B>>();
        let model = match self.mode {
            Mode::New => {
                B::seed(&device, state.train.seed);
                model_config.init::<B>(&device)
            }
            Mode::Resume | Mode::Eval => self.checkpoint.load_model(&model_config, &device)?,
        };
        if self.mode == Mode::Eval {
            let eval = evaluate(&model);
            println!(
                "model of {} ({} steps) on {}",
                self.checkpoint.dir().display(),
                state.steps_done,
                B::name(&device)
            );
            println!("eval ({eval_what}): {eval}");
            return Ok(());
        }
        if self.mode == Mode::Resume {
            optimizer = self.checkpoint.load_optimizer(optimizer, &device)?;
        }

        let cfg = &state.train;
        println!(
            "training on {} for {} steps{}: {} parameters ({} layers, d_model {}, {} heads, {} \
             kv heads, {}), batch {} x {} tokens, task: {}",
            B::name(&device),
            cfg.steps,
            match state.steps_done {
                0 => String::new(),
                done => format!(" after {done}"),
            },
            model.num_params(),
            model_config.n_layers,
            model_config.d_model,
            model_config.n_heads,
            model_config.kv_heads(),
            describe_rope(&model_config.rope),
            cfg.batch_size,
            cfg.seq_len,
            task.describe()
        );
        let (model, report) = train(
            model,
            &mut optimizer,
            &task,
            cfg,
            state.steps_done,
            true,
            &device,
        );
        let eval = evaluate(&model);

        state.steps_done += cfg.steps;
        self.checkpoint.save(&model, &model_config, &state)?;
        self.checkpoint.save_optimizer(&optimizer)?;
        let plot = write_losses(&self.checkpoint, &report, task.vocab_size())?;
        summary(&report, &eval, &eval_what, &task, &self.checkpoint, &plot);
        Ok(())
    }
}

fn describe_rope(rope: &RopeConfig) -> String {
    format!(
        "RoPE head_dim {} theta {} {:?}",
        rope.head_dim, rope.theta, rope.scaling
    )
}

/// Appends the run's losses to `losses.csv` (dropping steps it redoes) and plots them all,
/// with chance (a uniform guess over the `vocab` tokens) for scale.
fn write_losses(
    checkpoint: &Checkpoint,
    report: &TrainReport,
    vocab: usize,
) -> Result<PathBuf, String> {
    let csv_path = checkpoint.path("losses.csv");
    let first = report.losses.first().map_or(1, |&(step, _)| step);
    let mut losses: Vec<(f64, f64)> = match first {
        1 => Vec::new(),
        _ => std::fs::read_to_string(&csv_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (step, loss) = line.split_once(',')?;
                Some((step.parse().ok()?, loss.parse().ok()?))
            })
            .filter(|&(step, _)| step < first as f64)
            .collect(),
    };
    losses.extend(report.losses.iter().map(|&(s, l)| (s as f64, l)));
    let mut csv = String::from("step,loss\n");
    for (step, loss) in &losses {
        csv.push_str(&format!("{step},{loss}\n"));
    }
    std::fs::write(&csv_path, csv).map_err(|e| format!("cannot write losses.csv: {e}"))?;

    const WINDOW: usize = 25;
    let smoothed = losses.windows(WINDOW).map(|w| {
        let mean = w.iter().map(|(_, l)| l).sum::<f64>() / WINDOW as f64;
        (w[WINDOW - 1].0, mean)
    });
    let svg_path = checkpoint.path("loss.svg");
    LineChart::new("training loss")
        .x_label("step")
        .y_label("cross-entropy (nats)")
        .reference("chance", (vocab as f64).ln())
        .series("per step", losses.iter().copied())
        .series(format!("mean of {WINDOW}"), smoothed)
        .save(&svg_path)
        .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    Ok(svg_path)
}

fn summary(
    report: &TrainReport,
    eval: &Eval,
    eval_what: &str,
    task: &Task,
    checkpoint: &Checkpoint,
    plot: &std::path::Path,
) {
    let tokens = report.tokens_per_second * report.seconds;
    println!(
        "trained {} steps ({:.0} tokens) in {:.1} s: {:.0} tokens/s",
        report.losses.len(),
        tokens,
        report.seconds,
        report.tokens_per_second
    );
    if let Task::Retrieval(r) = task {
        println!(
            "chance: loss {:.4} (uniform), retrieval accuracy {:.1}%",
            (task.vocab_size() as f64).ln(),
            100.0 / r.n_values as f64
        );
    }
    println!("eval ({eval_what}): {eval}");
    println!(
        "saved model.json, train.json, model.mpk, optimizer.mpk, losses.csv to {}",
        checkpoint.dir().display()
    );
    println!("loss curve: {}", plot.display());
    println!(
        "loss: start {:.4} end {:.4}",
        report.first_loss(),
        report.last_loss()
    );
}

fn parse() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut backend, mut out, mut mode) =
        ("ndarray".to_string(), "results/train".into(), Mode::New);
    let (mut steps, mut text) = (None, None);
    let mut train = TrainConfig::new();
    let mut retrieval = Retrieval::default();
    let mut model = TransformerConfig::new(0, RopeConfig::new(0)).with_n_kv_heads(Some(2));
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        fn number<T: std::str::FromStr>(arg: &str, v: String) -> Result<T, String>
        where
            T::Err: std::fmt::Display,
        {
            v.parse().map_err(|e| format!("{arg} {v}: {e}"))
        }
        match arg.as_str() {
            "--backend" => backend = value()?,
            "--out" => out = PathBuf::from(value()?),
            "--text" => text = Some(PathBuf::from(value()?)),
            "--resume" => mode = Mode::Resume,
            "--eval" => mode = Mode::Eval,
            "--steps" => steps = Some(number(&arg, value()?)?),
            "--batch-size" => train.batch_size = number(&arg, value()?)?,
            "--seq-len" => train.seq_len = number(&arg, value()?)?,
            "--seed" => train.seed = number(&arg, value()?)?,
            "--lr" => train.learning_rate = number(&arg, value()?)?,
            "--layers" => model.n_layers = number(&arg, value()?)?,
            "--d-model" => model.d_model = number(&arg, value()?)?,
            "--heads" => model.n_heads = number(&arg, value()?)?,
            "--kv-heads" => model.n_kv_heads = Some(number(&arg, value()?)?),
            "--d-ff" => model.d_ff = number(&arg, value()?)?,
            "--untied" => model.tied_head = false,
            "--pairs" => retrieval.n_pairs = number(&arg, value()?)?,
            "-h" | "--help" => return Err(USAGE.to_string()),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    let task = match text {
        Some(path) => TaskSpec::Text(path),
        None => TaskSpec::Retrieval(retrieval),
    };
    if mode == Mode::New {
        model.vocab_size = task.load()?.vocab_size();
        model.rope = RopeConfig::new(model.head_dim());
        model.validate()?;
    }
    Ok(Args {
        backend,
        mode,
        checkpoint: Checkpoint::new(out),
        steps,
        model,
        train,
        task,
    })
}

fn main() {
    let result = parse().and_then(|args| run_train_on(&args.backend.clone(), args)?);
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
