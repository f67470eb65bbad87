//! The command line of the `train` example (clap) and the run it asks for, every value checked
//! against the others and the data before anything runs: a bad flag is a one-line error
//! naming it. [`run_cli`] runs it on the chosen backend (`session.rs`).

use std::path::PathBuf;

use burn_rotary::RopeConfig;
use clap::Parser;

use super::checkpoint::Checkpoint;
use super::TrainConfig;
use crate::backend_choice::run_train_on;
use crate::cli::{self, at_least_1, positive};
use crate::data::{Retrieval, Task, TaskSpec};
use crate::model::{attention_scores, TransformerConfig, MAX_ATTENTION_SCORES};

/// Trains a small transformer with RoPE on burn-train's learner.
#[derive(Parser, Debug)]
#[command(name = "train")]
pub struct Cli {
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

/// New run, `--resume` or `--eval`.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Mode {
    New,
    Resume,
    Eval,
}

/// The flags a run saved in `--out` fixes (`model.json`, `train.json`): `--resume` and
/// `--eval` refuse them rather than ignore them.
const SAVED_FLAGS: [&str; 13] = [
    "batch_size",
    "seq_len",
    "lr",
    "seed",
    "layers",
    "d_model",
    "heads",
    "kv_heads",
    "d_ff",
    "untied",
    "pairs",
    "queries",
    "text",
];

/// The run the command line asks for, checked.
pub(super) struct Args {
    pub(super) backend: String,
    pub(super) devices: usize,
    pub(super) log_every: usize,
    pub(super) pack: bool,
    pub(super) mode: Mode,
    pub(super) checkpoint: Checkpoint,
    pub(super) steps: Option<usize>,
    pub(super) steps_per_epoch: Option<usize>,
    pub(super) model: TransformerConfig,
    pub(super) train: TrainConfig,
    pub(super) task: TaskSpec,
}

/// Runs the command line (`given`: the flags it gave, [`cli::parse_with_given`]) on its
/// backend. The run is generic over the backend: it is instantiated here, once, so the
/// example binary only parses and calls (its build stays short).
pub fn run_cli(cli: Cli, given: &[String]) -> Result<(), String> {
    let args = args(cli, given)?;
    run_train_on(&args.backend.clone(), args)?
}

/// The run the command line asks for, every value checked against the others and the data.
fn args(cli: Cli, given: &[String]) -> Result<Args, String> {
    let mode = match (cli.resume, cli.eval) {
        (true, _) => Mode::Resume,
        (_, true) => Mode::Eval,
        _ => Mode::New,
    };
    if let Some(flag) = given.iter().find(|g| SAVED_FLAGS.contains(&g.as_str())) {
        if mode != Mode::New {
            return Err(format!(
                "--{}: the run in {} fixes it (model.json, train.json); --resume and --eval use \
                 the saved value (start a new run to change it)",
                flag.replace('_', "-"),
                cli.out.display()
            ));
        }
    }
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
                "--d-model {} / --heads {} / --kv-heads {} / --d-ff {} / --layers {}: {e}",
                cli.d_model, cli.heads, cli.kv_heads, cli.d_ff, cli.layers
            )
        })?;
        check_size(&cli)?;
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
        Task::Retrieval(r) if r.train_queries > cli.seq_len / 3 => Err(format!(
            "--queries {}: a query takes 3 tokens, at most {} fit in --seq-len {}",
            r.train_queries,
            cli.seq_len / 3,
            cli.seq_len
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

/// A batch this example can hold: at most [`MAX_ATTENTION_SCORES`] attention scores (the
/// model's size is bounded by `TransformerConfig::validate`).
fn check_size(cli: &Cli) -> Result<(), String> {
    let scores = attention_scores(cli.batch_size, cli.heads, cli.seq_len);
    if scores > MAX_ATTENTION_SCORES as f64 {
        return Err(format!(
            "--batch-size {} x --heads {} x --seq-len {}^2: {scores:.1e} attention scores per \
             batch, more than this example holds ({MAX_ATTENTION_SCORES})",
            cli.batch_size, cli.heads, cli.seq_len
        ));
    }
    Ok(())
}
