//! The scaling benchmark: which RoPE scaling runs a model beyond the context it was trained
//! on, and at what cost.
//!
//! 1. Train the training example's model at context `L` with plain RoPE, or load the run cached
//!    in `<out>/model` when it was trained with the same configs.
//! 2. Score it at `L * r` for each ratio `r` with every [`Method`], its parameters derived from
//!    the target length ([`Method::scaling`]), without training: loss over the sequence and
//!    retrieval accuracy of a key planted at several depths.
//! 3. Optionally fine-tune briefly at the longest length with the methods the literature
//!    fine-tunes, and score those models at every length (their factor stays the one they were
//!    tuned with, as a deployed config's does).
//! 4. Time each method's RoPE: building it, and its q+k forward at each length.

mod eval;
mod report;

use std::path::Path;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;

pub use eval::{rope_cost, score, Cost, EvalSets, Score};
pub use report::{markdown, write_csv, write_plots};

use crate::checkpoint::{Checkpoint, TrainState};
use crate::data::{Retrieval, Task, TaskSpec};
use crate::model::{Transformer, TransformerConfig};
use crate::scaling_methods::{extension_ratio, longrope_candidates, Method};
use crate::train::{train, TrainConfig};

/// What the benchmark runs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// What the model learns and is scored on.
    pub task: TaskSpec,
    /// The model (plain RoPE).
    pub model: TransformerConfig,
    /// How it is trained; `seq_len` is the training context `L`.
    pub train: TrainConfig,
    /// Scored lengths, as multiples of `L`.
    pub ratios: Vec<usize>,
    /// Depths of the queried key (fractions of the context).
    pub depths: Vec<f64>,
    /// Scoring batches per depth.
    pub eval_batches: usize,
    /// Sequences per scoring batch.
    pub eval_batch_size: usize,
    /// Batches of the held-out set LongRoPE's factors are searched on.
    pub search_batches: usize,
    /// Fine-tuning steps at the longest length (0: none).
    pub finetune_steps: usize,
    /// LongRoPE long factors given by the user (`rotary_dim / 2` values), else searched.
    pub long_factor: Option<Vec<f64>>,
    /// Timed repetitions of the RoPE op.
    pub timing_reps: usize,
}

impl BenchConfig {
    /// The default run: the training example's model trained at `L = 64`, scored up to 1024.
    pub fn standard() -> Self {
        let task = Retrieval::default();
        Self {
            task: TaskSpec::Retrieval(task),
            model: TransformerConfig::new(task.vocab_size(), burn_rotary::RopeConfig::new(16))
                .with_n_kv_heads(Some(2)),
            train: TrainConfig::new().with_seq_len(64),
            ratios: vec![1, 2, 4, 8, 16],
            depths: vec![0.0, 0.25, 0.5, 0.75, 1.0],
            eval_batches: 1,
            eval_batch_size: 8,
            search_batches: 1,
            finetune_steps: 0,
            long_factor: None,
            timing_reps: 5,
        }
    }

    /// The smallest run that still shows every method and length: `L = 16`, scored up to 256.
    pub fn quick() -> Self {
        let standard = Self::standard();
        Self {
            train: standard.train.clone().with_seq_len(16).with_steps(300),
            eval_batches: 1,
            timing_reps: 3,
            ..standard
        }
    }

    /// The training context `L`.
    pub fn train_len(&self) -> usize {
        self.train.seq_len
    }

    /// The scored lengths.
    pub fn lengths(&self) -> Vec<usize> {
        self.ratios.iter().map(|r| r * self.train_len()).collect()
    }
}

/// One method at one length.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The method's name; `+ft` when fine-tuned.
    pub method: String,
    /// Scored context length.
    pub length: usize,
    /// The extension ratio its parameters were derived for.
    pub factor: f64,
    /// Quality.
    pub score: Score,
    /// Cost of its RoPE at this length.
    pub cost: Cost,
    /// How its parameters were chosen, when not by formula alone (LongRoPE's ramp).
    pub note: String,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone)]
pub struct BenchResults {
    /// Training context.
    pub train_len: usize,
    /// The depths of [`Score::depth_accuracy`].
    pub depths: Vec<f64>,
    /// Whether the task has retrieval accuracy.
    pub retrieval: bool,
    /// Token ids of the task: a uniform guess scores `ln(vocab_size)` nats.
    pub vocab_size: usize,
    /// One row per method and length, methods in [`Method::ALL`] order, then fine-tuned ones.
    pub rows: Vec<Row>,
    /// Where the model came from, e.g. "trained 600 steps in 41.2 s".
    pub model_source: String,
    /// Wall time of the benchmark, seconds.
    pub seconds: f64,
}

/// Runs the benchmark on `B` (an autodiff backend, for training), writing the model cache to
/// `<out>/model`. Progress goes to stderr when `progress`.
pub fn run<B>(
    config: &BenchConfig,
    out: &Path,
    progress: bool,
    device: &B::Device,
) -> Result<BenchResults, String>
where
    B: AutodiffBackend + RopeBackend,
    B::InnerBackend: RopeBackend,
{
    let start = Instant::now();
    let log = |msg: String| {
        if progress {
            eprintln!("{msg}");
        }
    };
    config.model.validate()?;
    let task = config.task.load()?;
    let (model, model_source) =
        trained_model::<B>(config, &task, &out.join("model"), progress, device)?;
    log(format!("model: {model_source}"));

    let train_len = config.train_len();
    let lengths = config.lengths();
    let sets: Vec<EvalSets> = lengths
        .iter()
        .map(|&len| {
            let seed = config.train.seed ^ 0xE7A1_5E75 ^ len as u64;
            EvalSets::new(
                &task,
                &config.depths,
                seed,
                config.eval_batches,
                config.eval_batch_size,
                len,
            )
        })
        .collect();
    let scorer = Scorer {
        config,
        task: &task,
        sets: &sets,
        device,
    };

    let inner = model.valid();
    let mut rows = Vec::new();
    for method in Method::ALL {
        let t = Instant::now();
        for (i, &len) in lengths.iter().enumerate() {
            let (long_factor, note) = scorer.long_factor(&inner, method, len);
            rows.push(scorer.row(
                &inner,
                method,
                method.name(),
                len,
                i,
                len,
                &long_factor,
                note,
            ));
        }
        log(format!(
            "scored {method:<12} at {lengths:?} in {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    }

    if config.finetune_steps > 0 {
        let longest = *lengths.iter().max().unwrap_or(&train_len);
        for method in Method::ALL
            .into_iter()
            .filter(|m| m.fine_tuned_in_literature())
        {
            let t = Instant::now();
            let rope = method.config(&config.model.rope, train_len, longest, &[]);
            let tuned = finetune(
                model.clone().with_rope(&rope, device),
                config,
                &task,
                longest,
                device,
            );
            let name = format!("{}+ft", method.name());
            let tuned = tuned.valid();
            for (i, &len) in lengths.iter().enumerate() {
                let note = format!("tuned {} steps at {longest}", config.finetune_steps);
                rows.push(scorer.row(&tuned, method, &name, len, i, longest, &[], note));
            }
            log(format!(
                "fine-tuned and scored {name} in {:.1} s",
                t.elapsed().as_secs_f64()
            ));
        }
    }

    Ok(BenchResults {
        train_len,
        depths: config.depths.clone(),
        retrieval: matches!(task, Task::Retrieval(_)),
        vocab_size: task.vocab_size(),
        rows,
        model_source,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Scores methods on the shared evaluation sets.
struct Scorer<'a, D> {
    config: &'a BenchConfig,
    task: &'a Task,
    sets: &'a [EvalSets],
    device: &'a D,
}

impl<D> Scorer<'_, D> {
    /// `model` with `method`'s RoPE for `factor_len`, scored on the `set`-th length `len`.
    #[allow(clippy::too_many_arguments)]
    fn row<B: RopeBackend<Device = D>>(
        &self,
        model: &Transformer<B>,
        method: Method,
        name: &str,
        len: usize,
        set: usize,
        factor_len: usize,
        long_factor: &[f64],
        note: String,
    ) -> Row {
        let train_len = self.config.train_len();
        let rope = method.config(&self.config.model.rope, train_len, factor_len, long_factor);
        let model = model.clone().with_rope(&rope, self.device);
        let growing = (method == Method::DynamicNtk).then_some(train_len);
        let score = score(&model, &self.sets[set], growing, self.device);
        let cost = rope_cost::<B>(
            &rope,
            &self.config.model,
            self.config.eval_batch_size,
            len,
            self.config.timing_reps,
            self.device,
        );
        Row {
            method: name.to_string(),
            length: len,
            factor: extension_ratio(train_len, factor_len),
            score,
            cost,
            note,
        }
    }

    /// LongRoPE's long factors for `len`: the user's, or the ramp of [`longrope_candidates`]
    /// with the lowest loss on a held-out set at `len` (the paper's search, over one
    /// parameter). Empty for the other methods.
    fn long_factor<B: RopeBackend<Device = D>>(
        &self,
        model: &Transformer<B>,
        method: Method,
        len: usize,
    ) -> (Vec<f64>, String) {
        if method != Method::LongRope {
            return (Vec::new(), String::new());
        }
        let train_len = self.config.train_len();
        let half = self.config.model.rope.rotary_dim() / 2;
        if let Some(given) = &self.config.long_factor {
            return (given.clone(), "given factors".into());
        }
        if len <= train_len {
            return (vec![1.0; half], "short factors".into());
        }
        let s = extension_ratio(train_len, len);
        let held_out = EvalSets::new(
            self.task,
            &[0.0, 0.5],
            self.config.train.seed ^ 0x10_6E5E_A7C4 ^ len as u64,
            self.config.search_batches,
            self.config.eval_batch_size,
            len,
        );
        let (p, factors, _) = longrope_candidates(s, half)
            .into_iter()
            .map(|(p, factors)| {
                let rope =
                    Method::LongRope.config(&self.config.model.rope, train_len, len, &factors);
                let tried = model.clone().with_rope(&rope, self.device);
                let loss = score(&tried, &held_out, None, self.device).loss;
                (p, factors, loss)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .expect("candidates");
        (factors, format!("searched ramp p={p}"))
    }
}

/// The model trained at `L` with plain RoPE: loaded from `dir` when it holds a run of the same
/// configs, else trained and saved there.
fn trained_model<B>(
    config: &BenchConfig,
    task: &Task,
    dir: &Path,
    progress: bool,
    device: &B::Device,
) -> Result<(Transformer<B>, String), String>
where
    B: AutodiffBackend + RopeBackend,
{
    let checkpoint = Checkpoint::new(dir);
    let wanted = TrainState {
        train: config.train.clone(),
        task: config.task.clone(),
        steps_done: config.train.steps,
    };
    if let Ok((model_config, state)) = checkpoint.load_configs() {
        if same_json(&model_config, &config.model) && same_json(&state, &wanted) {
            let model = checkpoint.load_model::<B>(&model_config, device)?;
            return Ok((model, format!("loaded from {}", dir.display())));
        }
    }
    B::seed(device, config.train.seed);
    let model = config.model.init::<B>(device);
    let mut optimizer = config.train.optimizer().init::<B, Transformer<B>>();
    let (model, report) = train(
        model,
        &mut optimizer,
        task,
        &config.train,
        0,
        progress,
        device,
    );
    checkpoint.save(&model, &config.model, &wanted)?;
    let source = format!(
        "trained {} steps at {} tokens in {:.1} s (loss {:.3} -> {:.3}), saved to {}",
        config.train.steps,
        config.train_len(),
        report.seconds,
        report.first_loss(),
        report.last_loss(),
        dir.display()
    );
    Ok((model, source))
}

fn same_json<T: serde::Serialize>(a: &T, b: &T) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// `model` (with its scaled RoPE) fine-tuned for `finetune_steps` steps at `len` tokens, with
/// as many tokens per step as training had and a tenth of its learning rate.
fn finetune<B>(
    model: Transformer<B>,
    config: &BenchConfig,
    task: &Task,
    len: usize,
    device: &B::Device,
) -> Transformer<B>
where
    B: AutodiffBackend + RopeBackend,
{
    let tokens = config.train.batch_size * config.train_len();
    let tune = config
        .train
        .clone()
        .with_steps(config.finetune_steps)
        .with_seq_len(len)
        .with_batch_size((tokens / len).max(2))
        .with_learning_rate(config.train.learning_rate / 10.0)
        .with_warmup_steps(1)
        .with_seed(config.train.seed ^ 0xF1_7E);
    let mut optimizer = tune.optimizer().init::<B, Transformer<B>>();
    train(
        model,
        &mut optimizer,
        task,
        &tune,
        config.train.steps,
        false,
        device,
    )
    .0
}
