//! The jobs after training: scoring a model with one method at every length, and fine-tuning
//! a text model with one method then scoring it; and the progress they report.

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;
use indicatif::ProgressBar;

use super::eval::{score, EvalSet, Score};
use super::models::finetune_config;
use super::{BenchConfig, TaskKind};
use crate::data::Task;
use crate::model::{Transformer, TransformerConfig};
use crate::scaling_methods::{extension_ratio, longrope_candidates, Method};
use crate::train::{train_with, TrainConfig};

/// One task with its model config and its evaluation sets (one per scored length).
pub(super) struct Setup {
    pub kind: TaskKind,
    pub task: Task,
    pub model: TransformerConfig,
    pub train: TrainConfig,
    pub identity: serde_json::Value,
    /// Scored sets, one per length.
    pub eval: Vec<EvalSet>,
    /// Validation sets for LongRoPE's search, one per length.
    pub search: Vec<EvalSet>,
}

/// A fine-tune of the text model of one seed with one method.
pub(super) struct FineTune<B: AutodiffBackend> {
    /// Index of the seed.
    pub seed: usize,
    pub method: Method,
    /// Cache label and identity of the tuned model.
    pub label: String,
    pub identity: serde_json::Value,
    /// The base model to tune (when not cached).
    pub base: Option<Transformer<B>>,
    /// The tuned model, from the cache.
    pub cached: Option<Transformer<B::InnerBackend>>,
}

/// A job after training.
pub(super) enum Job<B: AutodiffBackend> {
    /// Score the model of `task` and `seed` with `method`.
    Score {
        task: usize,
        seed: usize,
        method: Method,
        model: Box<Transformer<B::InnerBackend>>,
    },
    /// Fine-tune (or load) and score.
    FineTune(Box<FineTune<B>>),
}

/// What a job gives: `(task, method name, seed)`, a score and a note per length, and a newly
/// tuned model to cache `(label, identity, model)`.
pub(super) type JobOutput<B> = (
    (usize, String, usize),
    Vec<Score>,
    Vec<String>,
    Option<(String, serde_json::Value, Transformer<B>)>,
);

/// Runs the jobs of one benchmark.
pub(super) struct Scorer<'a, B: AutodiffBackend> {
    pub config: &'a BenchConfig,
    pub setups: &'a [Setup],
    pub device: &'a B::Device,
    pub bar: &'a ProgressBar,
    pub units: &'a Units,
}

impl<B> Scorer<'_, B>
where
    B: AutodiffBackend + RopeBackend,
    B::InnerBackend: RopeBackend,
{
    /// Runs `job`; an error if a fine-tuning diverged.
    pub fn run(&self, job: Job<B>) -> Result<JobOutput<B>, String> {
        match job {
            Job::Score {
                task,
                seed,
                method,
                model,
            } => {
                let (scores, notes) = self.score_method(&model, task, method);
                Ok(((task, method.name().to_string(), seed), scores, notes, None))
            }
            Job::FineTune(f) => {
                let f = *f;
                let len = self.config.finetune_len().expect("fine-tuning");
                let l = self.config.train_len();
                let rope = f.method.config(&self.setups[0].model.rope, l, len, &[]);
                let (tuned, fresh) = match f.cached {
                    Some(model) => (model, None),
                    None => {
                        let tune =
                            finetune_config(&self.config.train, self.config.finetune_steps, len);
                        let base = f.base.expect("a base model to fine-tune");
                        let model = base.with_rope(&rope, self.device);
                        let mut optimizer = tune.optimizer().init::<B, Transformer<B>>();
                        let cost = (self.units.train(&tune) / tune.steps as f64) as u64;
                        let task = &self.setups[0].task;
                        let (model, report) = train_with(
                            model,
                            &mut optimizer,
                            task,
                            &tune,
                            self.config.train.steps,
                            self.device,
                            &mut |_, _| self.bar.inc(cost),
                        );
                        report.check_finite().map_err(|e| {
                            format!(
                                "{}: fine-tuning: {e}; nothing was cached or written",
                                f.label
                            )
                        })?;
                        (model.valid(), Some(model))
                    }
                };
                let tuned = tuned.with_rope(&rope, self.device);
                let scores = (0..self.config.lengths().len())
                    .map(|i| self.score_set(&tuned, &self.setups[0].eval[i], None))
                    .collect();
                let notes = vec![String::new(); self.config.lengths().len()];
                let name = format!("{}+ft", f.method.name());
                let fresh = fresh.map(|m| (f.label, f.identity, m));
                Ok(((0, name, f.seed), scores, notes, fresh))
            }
        }
    }

    /// `model` with `method`'s RoPE for each length, scored there.
    fn score_method(
        &self,
        model: &Transformer<B::InnerBackend>,
        task: usize,
        method: Method,
    ) -> (Vec<Score>, Vec<String>) {
        let setup = &self.setups[task];
        let l = self.config.train_len();
        let mut scores = Vec::new();
        let mut notes = Vec::new();
        for (i, len) in self.config.lengths().into_iter().enumerate() {
            let (long_factor, note) = self.long_factor(model, task, method, i, len);
            let rope = method.config(&setup.model.rope, l, len, &long_factor);
            let scaled = model.clone().with_rope(&rope, self.device);
            let growing = (method == Method::DynamicNtk).then_some(l);
            scores.push(self.score_set(&scaled, &setup.eval[i], growing));
            notes.push(note);
        }
        (scores, notes)
    }

    fn score_set(
        &self,
        model: &Transformer<B::InnerBackend>,
        set: &EvalSet,
        growing: Option<usize>,
    ) -> Score {
        let l = self.config.train_len();
        let passes = if growing.is_some() { 2.0 } else { 1.0 };
        let s = score(model, set, l, growing, self.device, &|_| {});
        self.bar
            .inc((passes * self.units.forward(set)).round() as u64);
        s
    }

    /// LongRoPE's long factors at the `i`-th length: the user's, or the ramp of
    /// [`longrope_candidates`] with the lowest loss on the validation set there (the paper's
    /// search, over one parameter). Empty for the other methods.
    fn long_factor(
        &self,
        model: &Transformer<B::InnerBackend>,
        task: usize,
        method: Method,
        i: usize,
        len: usize,
    ) -> (Vec<f64>, String) {
        if method != Method::LongRope {
            return (Vec::new(), String::new());
        }
        let l = self.config.train_len();
        let setup = &self.setups[task];
        let half = setup.model.rope.rotary_dim() / 2;
        if let Some(given) = &self.config.long_factor {
            return (given.clone(), "given factors".into());
        }
        if len <= l {
            return (vec![1.0; half], String::new());
        }
        let s = extension_ratio(l, len);
        let (p, factors, _) = longrope_candidates(s, half)
            .into_iter()
            .map(|(p, factors)| {
                let rope = Method::LongRope.config(&setup.model.rope, l, len, &factors);
                let tried = model.clone().with_rope(&rope, self.device);
                let loss = self.score_set(&tried, &setup.search[i], None).loss;
                (p, factors, loss)
            })
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .expect("candidates");
        (factors, format!("p={p}"))
    }
}

/// Work, in units of one token through the model's forward pass at length 0: a token at
/// length `n` costs `1 + n / 512` (attention), a training token three (forward and backward).
#[derive(Debug, Clone, Copy)]
pub(super) struct Units;

impl Units {
    fn per_token(len: usize) -> f64 {
        1.0 + len as f64 / 512.0
    }

    /// A training run.
    pub fn train(&self, train: &TrainConfig) -> f64 {
        3.0 * (train.steps * train.batch_size * train.seq_len) as f64
            * Self::per_token(train.seq_len)
    }

    /// One forward pass over `set`.
    pub fn forward(&self, set: &EvalSet) -> f64 {
        set.tokens() as f64 * Self::per_token(set.seq_len())
    }

    /// All the scoring of a run (LongRoPE's search and dynamic NTK's prefixes included).
    pub fn scoring(&self, config: &BenchConfig, setups: &[Setup]) -> f64 {
        let seeds = config.seeds.len() as f64;
        let l = config.train_len();
        let lengths = config.lengths();
        let mut total = 0.0;
        for s in setups {
            let eval: f64 = s.eval.iter().map(|e| self.forward(e)).sum();
            // Every method once, dynamic NTK twice.
            total += seeds * eval * (Method::ALL.len() as f64 + 1.0);
            if config.long_factor.is_none() {
                let candidates = longrope_candidates(2.0, 2).len() as f64;
                let search: f64 = s
                    .search
                    .iter()
                    .zip(&lengths)
                    .filter(|(_, &n)| n > l)
                    .map(|(e, _)| self.forward(e))
                    .sum();
                total += seeds * candidates * search;
            }
        }
        let tuned = Method::ALL
            .iter()
            .filter(|m| m.fine_tuned_in_literature())
            .count();
        if config.finetune_len().is_some() {
            let eval: f64 = setups[0].eval.iter().map(|e| self.forward(e)).sum();
            total += seeds * tuned as f64 * eval;
        }
        total
    }
}
