//! Training and evaluation, generic over the backend: a plain loop ([`train_with`], what the
//! benchmarks use) and `burn-train`'s learner ([`learner::fit`], what the training example
//! uses, on one device or several).

pub mod checkpoint;
pub mod cli;
pub mod learner;
pub mod loader;
pub mod metrics;
pub mod renderer;
mod session;

use std::time::Instant;

use burn::config::Config;
use burn::grad_clipping::GradientClippingConfig;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::RopeBackend;

use crate::data::{HostBatch, SplitMix, Task};
use crate::model::Transformer;
use crate::packing::Packing;

/// How to train.
#[derive(Config, Debug)]
pub struct TrainConfig {
    /// Optimiser steps of a run.
    #[config(default = 600)]
    pub steps: usize,
    /// Sequences per step.
    #[config(default = 16)]
    pub batch_size: usize,
    /// Training context length.
    #[config(default = 64)]
    pub seq_len: usize,
    /// Peak AdamW learning rate.
    #[config(default = 1e-2)]
    pub learning_rate: f64,
    /// Steps of linear warm-up from the first step (a resumed run has warmed up already), at
    /// most a tenth of the run's steps: a 50-step run warms up over 5.
    #[config(default = 30)]
    pub warmup_steps: usize,
    /// The learning rate decays along a cosine to this fraction of the peak by a run's end.
    #[config(default = 0.1)]
    pub final_lr_fraction: f64,
    /// AdamW weight decay.
    #[config(default = 0.01)]
    pub weight_decay: f32,
    /// Gradients are clipped to this global norm.
    #[config(default = 1.0)]
    pub grad_clip_norm: f32,
    /// Seed of the training data (the evaluation set is drawn from a seed derived from it).
    #[config(default = 42)]
    pub seed: u64,
    /// Batches (of `batch_size` sequences) in the fixed evaluation set.
    #[config(default = 8)]
    pub eval_batches: usize,
}

impl TrainConfig {
    /// The AdamW optimiser this config describes.
    pub fn optimizer(&self) -> AdamWConfig {
        AdamWConfig::new()
            .with_weight_decay(self.weight_decay)
            .with_grad_clipping(Some(GradientClippingConfig::Norm(self.grad_clip_norm)))
    }

    /// The learning rate of step `i` (`0..steps`) of a run that starts after `first_step`
    /// steps: warm-up over the first [`warmup`](Self::warmup) steps ever, then a cosine decay
    /// over the run.
    pub fn learning_rate_at(&self, first_step: usize, i: usize) -> f64 {
        let warmup = ((first_step + i + 1) as f64 / self.warmup() as f64).min(1.0);
        let progress = i as f64 / self.steps.max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let floor = self.final_lr_fraction;
        self.learning_rate * warmup * (floor + (1.0 - floor) * cosine)
    }

    /// The warm-up steps in force: `warmup_steps`, at most a tenth of `steps` (at least 1), so
    /// that a short run spends most of its steps at the full learning rate.
    pub fn warmup(&self) -> usize {
        self.warmup_steps.min(self.steps.div_ceil(10)).max(1)
    }

    /// The fixed evaluation set at `seq_len` tokens: the same batches on every call.
    pub fn eval_set(&self, task: &Task, seq_len: usize) -> Vec<HostBatch> {
        task.batches(
            self.seed ^ 0x5EED_E7A1,
            self.eval_batches,
            self.batch_size,
            seq_len,
        )
    }
}

/// Loss and retrieval accuracy of a model on some batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// Mean next-token cross-entropy over every position, in nats.
    pub loss: f64,
    /// Fraction of sequences whose prediction at the last position is the retrieval answer
    /// (`None` for text).
    pub accuracy: Option<f64>,
}

impl std::fmt::Display for Eval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loss {:.4}", self.loss)?;
        match self.accuracy {
            Some(a) => write!(f, ", retrieval accuracy {:.1}%", 100.0 * a),
            None => write!(f, ", perplexity {:.2}", self.loss.exp()),
        }
    }
}

/// What a training run did.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// `(step, training loss)` of every step (steps count from 1 across resumed runs).
    pub losses: Vec<(usize, f64)>,
    /// Training tokens per second.
    pub tokens_per_second: f64,
    /// Wall time of the loop, seconds.
    pub seconds: f64,
}

impl TrainReport {
    /// An error naming the first step whose loss is not finite: a diverged run, whose model
    /// must not be saved, cached or scored.
    pub fn check_finite(&self) -> Result<(), String> {
        match self.losses.iter().find(|(_, l)| !l.is_finite()) {
            Some((step, loss)) => Err(format!("training diverged (loss {loss} at step {step})")),
            None => Ok(()),
        }
    }

    /// The first step's loss.
    pub fn first_loss(&self) -> f64 {
        self.losses.first().map_or(f64::NAN, |&(_, l)| l)
    }

    /// The last step's loss.
    pub fn last_loss(&self) -> f64 {
        self.losses.last().map_or(f64::NAN, |&(_, l)| l)
    }
}

/// Mean next-token cross-entropy of `model` on `batch`, and the logits.
///
/// # Shapes
/// - output: `([1], [batch, seq, vocab_size])`
pub fn loss<B: RopeBackend>(
    model: &Transformer<B>,
    batch: &HostBatch,
    device: &B::Device,
) -> (Tensor<B, 1>, Tensor<B, 3>) {
    let (tokens, targets) = batch.to_tensors::<B>(device);
    lm_loss(model, tokens, targets, batch.packing(device).as_ref())
}

/// Mean next-token cross-entropy of `model` on `tokens` (packed rows with a `packing`)
/// against `targets`, and the logits.
///
/// # Shapes
/// - `tokens`, `targets`: `[batch, seq]`
/// - output: `([1], [batch, seq, vocab_size])`
pub fn lm_loss<B: RopeBackend>(
    model: &Transformer<B>,
    tokens: Tensor<B, 2, Int>,
    targets: Tensor<B, 2, Int>,
    packing: Option<&Packing<B>>,
) -> (Tensor<B, 1>, Tensor<B, 3>) {
    let device = tokens.device();
    let logits = model.forward_packed(tokens, packing);
    let [b, s, v] = logits.dims();
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone().reshape([b * s, v]), targets.reshape([b * s]));
    (loss, logits)
}

/// Cross-entropy of the last position against the retrieval `answers`.
///
/// # Shapes
/// - `logits`: `[batch, seq, vocab_size]`, `answers`: `[batch]`
pub fn answer_loss<B: Backend>(logits: Tensor<B, 3>, answers: Tensor<B, 1, Int>) -> Tensor<B, 1> {
    let [b, s, v] = logits.dims();
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits.narrow(1, s - 1, 1).reshape([b, v]), answers)
}

/// Loss and (for retrieval batches) accuracy of `model` on `batches`. Run it on an inference
/// model (`model.valid()` of an autodiff one) so that no graph is recorded.
pub fn evaluate<B: RopeBackend>(
    model: &Transformer<B>,
    batches: &[HostBatch],
    device: &B::Device,
) -> Eval {
    let (mut loss_sum, mut correct, mut asked) = (0.0, 0, 0);
    for batch in batches {
        let (loss, logits) = loss(model, batch, device);
        loss_sum += scalar(loss);
        if !batch.answers.is_empty() {
            let [b, s, v] = logits.dims();
            let predicted = logits.narrow(1, s - 1, 1).reshape([b, v]).argmax(1);
            let predicted = predicted
                .into_data()
                .convert::<i64>()
                .to_vec::<i64>()
                .unwrap();
            correct += predicted
                .iter()
                .zip(&batch.answers)
                .filter(|(p, a)| p == a)
                .count();
            asked += b;
        }
    }
    Eval {
        loss: loss_sum / batches.len().max(1) as f64,
        accuracy: (asked > 0).then(|| correct as f64 / asked as f64),
    }
}

fn scalar<B: Backend>(t: Tensor<B, 1>) -> f64 {
    t.into_data().convert::<f64>().to_vec::<f64>().unwrap()[0]
}

/// Trains `model` for `config.steps` AdamW steps on batches of `task`, after `first_step`
/// steps already done (0, or where a resumed run left off): the plain loop the benchmarks use
/// (the training example runs [`learner::fit`]). `on_step(step, training loss)` is called after
/// each step. Deterministic: batches come from `config.seed` (and `first_step`), nothing else
/// is random.
pub fn train_with<B, O>(
    mut model: Transformer<B>,
    optimizer: &mut O,
    task: &Task,
    config: &TrainConfig,
    first_step: usize,
    device: &B::Device,
    on_step: &mut dyn FnMut(usize, f64),
) -> (Transformer<B>, TrainReport)
where
    B: AutodiffBackend + RopeBackend,
    O: Optimizer<Transformer<B>, B>,
{
    let mut rng = SplitMix::new(config.seed ^ (first_step as u64).wrapping_mul(0x9E37_79B9));
    let tokens_per_step = config.batch_size * config.seq_len;
    let mut losses = Vec::with_capacity(config.steps);
    let start = Instant::now();
    for i in 0..config.steps {
        let batch = task.batch(&mut rng, config.batch_size, config.seq_len);
        let (loss, logits) = loss(&model, &batch, device);
        // The answer is one token in `seq`: its own term keeps retrieval from being drowned
        // out by the (easier) filler. The reported loss stays the plain mean.
        let objective = match batch.answers.is_empty() {
            true => loss.clone(),
            false => {
                let answers = TensorData::new(batch.answers.clone(), [batch.batch]);
                loss.clone() + answer_loss(logits, Tensor::from_data(answers, device))
            }
        };
        let grads = GradientsParams::from_grads(objective.backward(), &model);
        model = optimizer.step(config.learning_rate_at(first_step, i), model, grads);
        let (step, value) = (first_step + i + 1, scalar(loss.inner()));
        losses.push((step, value));
        on_step(step, value);
    }
    let seconds = start.elapsed().as_secs_f64();
    let tokens = config.steps * tokens_per_step;
    let report = TrainReport {
        losses,
        tokens_per_second: tokens as f64 / seconds,
        seconds,
    };
    (model, report)
}
