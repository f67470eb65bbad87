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

use std::path::PathBuf;
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::backend::{AutodiffBackend, Backend, Device as _, DeviceId};
use burn_rotary::{RopeBackend, RopeConfig};
use burn_rotary_suite::backend_choice::{run_train_on, TrainTask};
use burn_rotary_suite::checkpoint::{Checkpoint, Fingerprint, Staging, TrainState};
use burn_rotary_suite::cli::{self, at_least_1, positive};
use burn_rotary_suite::data::{Retrieval, Task, TaskSpec};
use burn_rotary_suite::model::TransformerConfig;
use burn_rotary_suite::plot::LineChart;
use burn_rotary_suite::scaling_bench::AlignedAlloc;
use burn_rotary_suite::train::learner::{fit, RunPlan};
use burn_rotary_suite::train::{evaluate, Eval, TrainConfig, TrainReport};
use clap::Parser;

/// Same numbers for a given seed on every run: NdArray's SIMD `recip` depends on buffer
/// alignment (see `burn_rotary_suite::scaling_bench::AlignedAlloc`).
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

/// Trains a small transformer with RoPE on burn-train's learner.
#[derive(Parser, Debug)]
#[command(name = "train")]
struct Cli {
    /// Backend: ndarray, wgpu or cuda.
    #[arg(long, default_value = "ndarray", value_parser = cli::train_backend)]
    backend: String,
    /// Data-parallel workers, one per device of the backend (Burn's multi-device strategy);
    /// on ndarray, whose one device is the CPU, the workers share it.
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    devices: usize,
    /// Optimiser steps of this run (default 600).
    #[arg(long, value_parser = at_least_1)]
    steps: Option<usize>,
    /// Steps per epoch: the learner evaluates and checkpoints after each (default 100, or the
    /// whole run if shorter); must divide --steps.
    #[arg(long, value_parser = at_least_1)]
    steps_per_epoch: Option<usize>,
    /// Print a progress line every this many steps (0: none).
    #[arg(long, default_value_t = 50, value_parser = cli::count)]
    log_every: usize,
    /// Train a character-level model on this UTF-8 text instead of the retrieval task.
    #[arg(long)]
    text: Option<PathBuf>,
    /// Folder of the run.
    #[arg(long, default_value = "results/train")]
    out: PathBuf,
    /// Train --steps more steps from the run in --out.
    #[arg(long, conflicts_with = "eval")]
    resume: bool,
    /// Evaluate the run in --out on its fixed evaluation set.
    #[arg(long)]
    eval: bool,
    /// Sequences per global batch (split equally between the devices).
    #[arg(long, default_value_t = 16, value_parser = at_least_1)]
    batch_size: usize,
    /// Training context length in tokens.
    #[arg(long, default_value_t = 64, value_parser = at_least_1)]
    seq_len: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-2, value_parser = positive)]
    lr: f64,
    /// Seed of the data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Transformer blocks.
    #[arg(long, default_value_t = 2, value_parser = at_least_1)]
    layers: usize,
    /// Model width.
    #[arg(long, default_value_t = 64, value_parser = at_least_1)]
    d_model: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4, value_parser = at_least_1)]
    heads: usize,
    /// Key-value heads (grouped-query attention).
    #[arg(long, default_value_t = 2, value_parser = at_least_1)]
    kv_heads: usize,
    /// Feed-forward width.
    #[arg(long, default_value_t = 128, value_parser = at_least_1)]
    d_ff: usize,
    /// An output head of its own instead of the transposed embedding.
    #[arg(long)]
    untied: bool,
    /// Records per sequence of the retrieval task (one is queried, the others distract).
    #[arg(long, default_value_t = 1, value_parser = at_least_1)]
    pairs: usize,
    /// Recall queries planted in each training sequence of the retrieval task (dense
    /// supervision of the lookup; the evaluation sequences hold only the final query).
    #[arg(long, default_value_t = 4, value_parser = cli::count)]
    queries: usize,
    /// Pack each training row with documents of random lengths, positions restarting at each
    /// and attention blocked between them (varlen training); evaluation stays on whole
    /// sequences of --seq-len.
    #[arg(long, conflicts_with = "eval")]
    pack: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    New,
    Resume,
    Eval,
}

/// The largest model and batch the example accepts: beyond them a typo, not a run.
const MAX_PARAMS: usize = 1 << 30;
const MAX_SCORES: usize = 1 << 31;

struct Args {
    backend: String,
    devices: usize,
    log_every: usize,
    pack: bool,
    mode: Mode,
    checkpoint: Checkpoint,
    steps: Option<usize>,
    steps_per_epoch: Option<usize>,
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
            Mode::New => (self.model, TrainState::new(self.train, self.task.clone())),
            Mode::Resume | Mode::Eval => self.checkpoint.load_configs()?,
        };
        let task = Arc::new(state.task.load()?);
        // Taken before training, so that the run records the text it trained on.
        let data_fingerprint = Fingerprint::of_data(&state.task)?;
        let eval_set = state.train.eval_set(&task, state.train.seq_len);
        let eval_what = format!(
            "fixed set of {} sequences of {} tokens",
            eval_set.len() * state.train.batch_size,
            state.train.seq_len
        );
        if self.mode == Mode::Eval {
            let model = self
                .checkpoint
                .load_model::<B::InnerBackend>(&model_config, &device)?;
            println!(
                "model of {} ({} steps) on {}",
                self.checkpoint.dir().display(),
                state.steps_done,
                B::name(&device)
            );
            println!(
                "eval ({eval_what}): {}",
                evaluate(&model, &eval_set, &device)
            );
            return Ok(());
        }
        if self.mode == Mode::Resume {
            state.check_resumable(&self.checkpoint, &state.task)?;
        }
        state.train.steps = self.steps.unwrap_or(state.train.steps);
        let steps_per_epoch = epoch_length(&state, self.steps_per_epoch)?;
        let devices = devices::<B>(&self.backend, self.devices)?;
        if !state.train.batch_size.is_multiple_of(devices.len()) {
            return Err(format!(
                "--batch-size {} is not a multiple of --devices {} (each device takes an equal \
                 share of every batch)",
                state.train.batch_size,
                devices.len()
            ));
        }
        let staging = Staging::begin(self.checkpoint.dir(), self.mode == Mode::Resume)?;
        let work = Checkpoint::new(staging.work());

        let model = match self.mode {
            Mode::Resume => work.load_model::<B>(&model_config, &device)?,
            _ => {
                B::seed(&device, state.train.seed);
                model_config.init::<B>(&device)
            }
        };
        let cfg = &state.train;
        println!(
            "training on {} x {} for {} steps{}: {} parameters ({} layers, d_model {}, {} heads, \
             {} kv heads, {}), batch {} x {} tokens{}, epochs of {steps_per_epoch} steps, task: {}",
            devices.len(),
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
            match self.pack {
                true => " (rows packed with documents)",
                false => "",
            },
            task.describe()
        );
        let plan = RunPlan {
            steps_per_epoch,
            epochs_done: state.steps_done / steps_per_epoch,
            devices,
            log_every: self.log_every,
            pack: self.pack,
        };
        let (model, report) = fit(
            model,
            task.clone(),
            cfg,
            eval_set.clone(),
            &plan,
            work.dir(),
        );
        if let Some((step, loss)) = report.losses.iter().find(|(_, l)| !l.is_finite()) {
            return Err(format!(
                "training diverged (loss {loss} at step {step}); {} is left as it was",
                self.checkpoint.dir().display()
            ));
        }
        let eval = evaluate(&model, &eval_set, &device);

        state.steps_done += cfg.steps;
        state.steps_per_epoch = steps_per_epoch;
        state.fingerprint.data = data_fingerprint;
        state.packed = self.pack;
        work.save(&model, &model_config, &state)?;
        let plot = write_losses(&work, &report, task.vocab_size())?;
        staging.commit()?;
        let plot = self
            .checkpoint
            .path(plot.file_name().unwrap().to_str().unwrap());
        summary(&report, &eval, &eval_what, &task, &self.checkpoint, &plot);
        Ok(())
    }
}

/// Steps per epoch: `--steps-per-epoch`, the saved run's when resuming, else 100 or the whole
/// run if shorter; it must divide the run's steps.
fn epoch_length(state: &TrainState, asked: Option<usize>) -> Result<usize, String> {
    let steps = state.train.steps;
    let length = match (state.steps_per_epoch, asked) {
        (0, Some(n)) => n,
        (0, None) => steps.min(100),
        (saved, Some(n)) if n != saved => {
            return Err(format!(
                "--steps-per-epoch {n}: the run being resumed has epochs of {saved} steps"
            ))
        }
        (saved, _) => saved,
    };
    if !steps.is_multiple_of(length) {
        return Err(format!(
            "--steps {steps} is not a whole number of epochs of {length} steps \
             (--steps-per-epoch)"
        ));
    }
    Ok(length)
}

/// `count` devices of `B`: devices `0..count` of the default device's kind (wgpu: discrete GPUs
/// `0..count`); on ndarray, whose one device is the CPU, `count` workers on it (at most one per
/// core).
fn devices<B: Backend>(backend: &str, count: usize) -> Result<Vec<B::Device>, String> {
    let first = B::Device::default();
    if count == 1 {
        return Ok(vec![first]);
    }
    if backend == "ndarray" {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        return match count <= cores {
            true => Ok(vec![first; count]),
            false => Err(format!(
                "--devices {count}: ndarray runs its workers on the CPU, which has {cores} cores"
            )),
        };
    }
    // wgpu's default device has no index: its devices are numbered per kind, discrete GPUs 0.
    let kind = match backend {
        "wgpu" => 0,
        _ => first.to_id().type_id,
    };
    let available = B::device_count(kind);
    if count > available {
        return Err(format!(
            "--devices {count}: {backend} has {available} device(s) of that kind here"
        ));
    }
    Ok((0..count)
        .map(|i| B::Device::from_id(DeviceId::new(kind, i as u16)))
        .collect())
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
        "trained {} steps ({:.0} tokens) in {:.1} s (evaluations included): {:.0} tokens/s",
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
        "saved model.json, train.json, model.mpk, losses.csv, checkpoint/ to {}",
        checkpoint.dir().display()
    );
    println!("loss curve: {}", plot.display());
    println!(
        "loss: start {:.4} end {:.4}",
        report.first_loss(),
        report.last_loss()
    );
}

/// The run the command line asks for, every value checked against the others and the data.
fn args(cli: Cli) -> Result<Args, String> {
    let mode = match (cli.resume, cli.eval) {
        (true, _) => Mode::Resume,
        (_, true) => Mode::Eval,
        _ => Mode::New,
    };
    let train = TrainConfig::new()
        .with_batch_size(cli.batch_size)
        .with_seq_len(cli.seq_len)
        .with_learning_rate(cli.lr)
        .with_seed(cli.seed);
    let retrieval = Retrieval {
        n_pairs: cli.pairs,
        train_queries: cli.queries,
        ..Retrieval::default()
    };
    let task = match cli.text.clone() {
        Some(path) => TaskSpec::Text(path),
        None => TaskSpec::Retrieval(retrieval),
    };
    let mut model = TransformerConfig::new(0, RopeConfig::new(0))
        .with_n_layers(cli.layers)
        .with_d_model(cli.d_model)
        .with_n_heads(cli.heads)
        .with_n_kv_heads(Some(cli.kv_heads))
        .with_d_ff(cli.d_ff)
        .with_tied_head(!cli.untied);
    if mode == Mode::New {
        let loaded = task.load()?;
        check_data(&cli, &loaded)?;
        model.vocab_size = loaded.vocab_size();
        model.rope = RopeConfig::new(model.head_dim().max(1));
        model.validate().map_err(|e| {
            format!(
                "--d-model {} / --heads {} / --kv-heads {}: {e}",
                cli.d_model, cli.heads, cli.kv_heads
            )
        })?;
        check_size(&cli, model.vocab_size)?;
    }
    Ok(Args {
        backend: cli.backend,
        devices: cli.devices,
        log_every: cli.log_every,
        pack: cli.pack,
        mode,
        checkpoint: Checkpoint::new(cli.out),
        steps: cli.steps,
        steps_per_epoch: cli.steps_per_epoch,
        model,
        train,
        task,
    })
}

/// The sequence length and the retrieval records against the task.
fn check_data(cli: &Cli, task: &Task) -> Result<(), String> {
    match task {
        Task::Retrieval(r) if cli.seq_len < r.min_seq() => Err(format!(
            "--seq-len {}: {} retrieval records and the query need at least {} tokens",
            cli.seq_len,
            r.n_pairs,
            r.min_seq()
        )),
        Task::Text(t) if t.len() <= cli.seq_len + 1 => Err(format!(
            "--text {}: {} characters, too short for one sequence of --seq-len {} (+1 target)",
            cli.text.as_ref().unwrap().display(),
            t.len(),
            cli.seq_len
        )),
        _ => Ok(()),
    }
}

/// A model and batch this example can hold: at most 2^30 parameters and 2^31 attention scores
/// per batch.
fn check_size(cli: &Cli, vocab: usize) -> Result<(), String> {
    let (d, f, l) = (cli.d_model as f64, cli.d_ff as f64, cli.layers as f64);
    let params =
        vocab as f64 * d * if cli.untied { 2.0 } else { 1.0 } + l * (4.0 * d * d + 3.0 * d * f);
    if params > MAX_PARAMS as f64 {
        return Err(format!(
            "--d-model {} / --d-ff {} / --layers {}: about {params:.1e} parameters, more than \
             this example trains ({MAX_PARAMS})",
            cli.d_model, cli.d_ff, cli.layers
        ));
    }
    let scores = cli.batch_size as f64 * cli.heads as f64 * (cli.seq_len as f64).powi(2);
    if scores > MAX_SCORES as f64 {
        return Err(format!(
            "--batch-size {} x --heads {} x --seq-len {}^2: {scores:.1e} attention scores per \
             batch, more than this example holds ({MAX_SCORES})",
            cli.batch_size, cli.heads, cli.seq_len
        ));
    }
    Ok(())
}

fn main() {
    let cli: Cli = cli::parse_or_exit();
    let result = args(cli).and_then(|args| run_train_on(&args.backend.clone(), args)?);
    if let Err(message) = result {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
