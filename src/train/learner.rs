//! Training the example [`Transformer`] with `burn-train`'s learner: its training and
//! inference steps, the learning-rate schedule, and [`fit`], which runs the learner on one
//! device or data-parallel on several through Burn's own multi-device strategy.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::optim::lr_scheduler::LrScheduler;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};
use burn_rotary::RopeBackend;
use burn_train::checkpoint::KeepLastNCheckpoints;
use burn_train::metric::{ItemLazy, LearningRateMetric};
use burn_train::{
    ExecutionStrategy, InferenceStep, Learner, MultiDeviceOptim, SupervisedTraining, TrainOutput,
    TrainStep,
};

use super::loader::{FixedLoader, LmBatch, StepLoader};
use super::metrics::{LmStats, LossMetric, RetrievalAccuracy, StepLosses, TokensPerSecond};
use super::renderer::LineRenderer;
use super::{answer_loss, lm_loss, TrainConfig, TrainReport};
use crate::data::{HostBatch, Task};
use crate::model::Transformer;

/// What a step gives the learner's metrics (synced to the host as [`LmStats`]).
pub struct LmOutput<B: Backend> {
    loss: Tensor<B, 1>,
    /// Logits of the last position and the answers, for retrieval batches.
    answers: Option<(Tensor<B, 2>, Tensor<B, 1, Int>)>,
    weight: f64,
    step: usize,
    tokens: usize,
}

impl<B: Backend> ItemLazy for LmOutput<B> {
    type ItemSync = LmStats;

    fn sync(self) -> LmStats {
        let loss = self
            .loss
            .into_data()
            .convert::<f64>()
            .to_vec::<f64>()
            .unwrap()[0];
        let (correct, asked) = match self.answers {
            None => (0, 0),
            Some((logits, answers)) => {
                let asked = answers.dims()[0];
                let right = logits.argmax(1).squeeze_dim::<1>(1).equal(answers);
                let right = right.int().sum().into_data().convert::<i64>();
                (right.to_vec::<i64>().unwrap()[0] as usize, asked)
            }
        };
        LmStats {
            step: self.step,
            loss,
            weight: self.weight,
            correct,
            asked,
            tokens: self.tokens,
        }
    }
}

fn output<B: RopeBackend>(
    model: &Transformer<B>,
    batch: &LmBatch<B>,
) -> (Tensor<B, 1>, Tensor<B, 3>, LmOutput<B>) {
    let (loss, logits) = lm_loss(
        model,
        batch.tokens.clone(),
        batch.targets.clone(),
        batch.packing.as_ref(),
    );
    let [b, s, v] = logits.dims();
    let answers = batch.answers.clone().map(|answers| {
        let last = logits.clone().narrow(1, s - 1, 1).reshape([b, v]);
        (last, answers)
    });
    let out = LmOutput {
        loss: loss.clone(),
        answers,
        weight: batch.weight,
        step: batch.step,
        tokens: b * s,
    };
    (loss, logits, out)
}

impl<B> TrainStep for Transformer<B>
where
    B: AutodiffBackend + RopeBackend,
{
    type Input = LmBatch<B>;
    type Output = LmOutput<B>;

    /// The objective is the batch's mean cross-entropy plus that of its retrieval answers (as in
    /// [`train_with`](super::train_with)), scaled by the batch's share of the global batch: the
    /// gradients Burn's strategies sum over workers are the global batch's.
    fn step(&self, batch: LmBatch<B>) -> TrainOutput<LmOutput<B>> {
        let (loss, logits, out) = output(self, &batch);
        let objective = match &batch.answers {
            Some(answers) => loss + answer_loss(logits, answers.clone()),
            None => loss,
        };
        let grads = (objective * batch.weight).backward();
        TrainOutput::new(self, grads, out)
    }
}

impl<B: RopeBackend> InferenceStep for Transformer<B> {
    type Input = LmBatch<B>;
    type Output = LmOutput<B>;

    fn step(&self, batch: LmBatch<B>) -> LmOutput<B> {
        output(self, &batch).2
    }
}

/// [`TrainConfig::learning_rate_at`] as a `burn-train` scheduler: warm-up over the first steps
/// ever, cosine decay over this run. Its record is the global step, so a resumed run goes on
/// from where its checkpoint left.
#[derive(Clone)]
pub struct RunSchedule {
    config: TrainConfig,
    first_step: usize,
    done: usize,
}

impl RunSchedule {
    /// The schedule of a run of `config.steps` steps after `first_step` steps.
    pub fn new(config: TrainConfig, first_step: usize) -> Self {
        Self {
            config,
            first_step,
            done: 0,
        }
    }
}

impl LrScheduler for RunSchedule {
    type Record<B: Backend> = usize;

    fn step(&mut self) -> f64 {
        let lr = self.config.learning_rate_at(self.first_step, self.done);
        self.done += 1;
        lr
    }

    fn to_record<B: Backend>(&self) -> usize {
        self.first_step + self.done
    }

    fn load_record<B: Backend>(mut self, record: usize) -> Self {
        self.done = record.saturating_sub(self.first_step);
        self
    }
}

/// A run for [`fit`]: how many epochs, where it starts, on which devices.
#[derive(Debug, Clone)]
pub struct RunPlan<D> {
    /// Optimiser steps per epoch (the learner checkpoints and evaluates after each epoch).
    pub steps_per_epoch: usize,
    /// Epochs done by earlier runs (0 for a new run): the learner resumes from their
    /// checkpoint in `dir/checkpoint`.
    pub epochs_done: usize,
    /// The devices: one, or several for Burn's multi-device data parallelism (each takes an
    /// equal share of every global batch of `batch_size` sequences).
    pub devices: Vec<D>,
    /// Print a progress line every this many steps (0: never).
    pub log_every: usize,
    /// Pack each training row with several documents ([`Task::packed_batch`]); evaluation
    /// stays on whole sequences.
    pub pack: bool,
}

/// Trains `model` (on `plan.devices[0]`) for `config.steps` steps with `burn-train`'s learner,
/// evaluating on `eval_set` after each epoch; checkpoints and metric logs go to `dir`.
///
/// # Panics
/// If `config.steps` is not a multiple of `plan.steps_per_epoch`, or `config.batch_size` of
/// the number of devices (the callers validate both).
pub fn fit<B>(
    model: Transformer<B>,
    task: Arc<Task>,
    config: &TrainConfig,
    eval_set: Vec<HostBatch>,
    plan: &RunPlan<B::Device>,
    dir: &Path,
) -> (Transformer<B::InnerBackend>, TrainReport)
where
    B: AutodiffBackend + RopeBackend,
    B::InnerBackend: RopeBackend,
{
    let workers = plan.devices.len();
    assert!(
        config.steps.is_multiple_of(plan.steps_per_epoch)
            && config.batch_size.is_multiple_of(workers),
        "fit: {} steps in epochs of {}, batch {} over {workers} workers",
        config.steps,
        plan.steps_per_epoch,
        config.batch_size
    );
    let device = &plan.devices[0];
    let first_step = plan.epochs_done * plan.steps_per_epoch;
    let train = StepLoader::<B>::new(
        task.clone(),
        config,
        plan.steps_per_epoch,
        plan.pack,
        plan.epochs_done,
        device,
    );
    let valid = FixedLoader::<B::InnerBackend>::new(eval_set, device);
    let losses = StepLosses::default();
    let epochs = plan.epochs_done + config.steps / plan.steps_per_epoch;
    let renderer = LineRenderer::new(
        losses.clone(),
        plan.log_every,
        first_step,
        config.steps,
        workers,
    );
    let mut training = SupervisedTraining::new(dir, Arc::new(train), Arc::new(valid))
        .with_file_checkpointer(NamedMpkFileRecorder::<FullPrecisionSettings>::new())
        .with_checkpointing_strategy(KeepLastNCheckpoints::new(2))
        .with_application_logger(None)
        .metric_train_numeric(LossMetric::new(Some(losses.clone())))
        .metric_train_numeric(TokensPerSecond::default())
        .metric_train_numeric(LearningRateMetric::new())
        .metric_valid_numeric(LossMetric::new(None))
        .num_epochs(epochs)
        .renderer(renderer);
    if matches!(*task, Task::Retrieval(_)) {
        training = training.metric_valid_numeric(RetrievalAccuracy::default());
    }
    if plan.epochs_done > 0 {
        training = training.checkpoint(plan.epochs_done);
    }
    if workers > 1 {
        training = training.with_training_strategy(
            ExecutionStrategy::multi(plan.devices.clone(), MultiDeviceOptim::OptimMainDevice)
                .into(),
        );
    }
    let learner = Learner::new(
        model,
        config.optimizer().init::<B, Transformer<B>>(),
        RunSchedule::new(config.clone(), first_step),
    );
    let start = Instant::now();
    let result = training.launch(learner);
    let seconds = start.elapsed().as_secs_f64();
    let tokens = config.steps * config.batch_size * config.seq_len;
    let report = TrainReport {
        losses: losses.to_vec(),
        tokens_per_second: tokens as f64 / seconds,
        seconds,
    };
    (result.model, report)
}
