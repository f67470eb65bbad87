//! A `burn-train` renderer that prints plain lines (a CI log or a pipe reads them as well as a
//! terminal): the mean training loss every few steps with the learning rate and tokens/s, and
//! each evaluation's figures.

use std::collections::HashMap;

use burn_train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn_train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

use super::metrics::StepLosses;

/// Prints `step 200/600 | loss 2.3117 | lr 9.1e-3 | 15880 tok/s` every `every` steps (the mean
/// loss since the last line) and `eval after step 200 | Loss 2.2950 | Retrieval accuracy 41.4 %`
/// after each evaluation (means over the evaluation set).
pub struct LineRenderer {
    losses: StepLosses,
    every: usize,
    first_step: usize,
    steps: usize,
    workers: usize,
    names: HashMap<MetricId, String>,
    train: HashMap<String, f64>,
    /// The evaluation's metrics in registration order: `(name, Σ value × count, Σ count)`.
    valid: Vec<(String, f64, f64)>,
    last_step: usize,
}

impl LineRenderer {
    /// A renderer for a run of `steps` steps after `first_step`, over `workers` workers (each
    /// reports its part of a step as one item), printing every `every` steps (0: never).
    pub fn new(
        losses: StepLosses,
        every: usize,
        first_step: usize,
        steps: usize,
        workers: usize,
    ) -> Self {
        Self {
            losses,
            every,
            first_step,
            steps,
            workers,
            names: HashMap::new(),
            train: HashMap::new(),
            valid: Vec::new(),
            last_step: first_step,
        }
    }

    /// A numeric metric's id, value and the count it stands for.
    fn value(state: &MetricState) -> Option<(&MetricId, f64, f64)> {
        match state {
            MetricState::Numeric(entry, value) => {
                let count = match value {
                    NumericEntry::Value(_) => 1,
                    NumericEntry::Aggregated { count, .. } => *count,
                };
                Some((&entry.metric_id, value.current(), count as f64))
            }
            MetricState::Generic(_) => None,
        }
    }
}

impl MetricsRendererTraining for LineRenderer {
    fn update_train(&mut self, state: MetricState) {
        if let Some((id, value, _)) = Self::value(&state) {
            let name = self.names.get(id).cloned().unwrap_or_default();
            self.train.insert(name, value);
        }
    }

    fn update_valid(&mut self, state: MetricState) {
        if let Some((id, value, count)) = Self::value(&state) {
            let name = self.names.get(id).cloned().unwrap_or_default();
            match self.valid.iter_mut().find(|(n, _, _)| *n == name) {
                Some(entry) => {
                    entry.1 += value * count;
                    entry.2 += count;
                }
                None => self.valid.push((name, value * count, count)),
            }
        }
    }

    /// Called once per worker's part of a step: a step is complete when its last worker's part
    /// is in (`iteration`, counted within the epoch, a multiple of the workers).
    fn render_train(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        let Some(iteration) = item.iteration else {
            return;
        };
        if self.every == 0 || !iteration.is_multiple_of(self.workers) {
            return;
        }
        let Some(step) = self.losses.last_step() else {
            return;
        };
        let done = step - self.first_step;
        if !(done.is_multiple_of(self.every) || done == self.steps) || step == self.last_step {
            return;
        }
        let mean = self.losses.mean(self.last_step + 1..=step);
        self.last_step = step;
        let get = |name: &str| self.train.get(name).copied().unwrap_or(f64::NAN);
        let rate = match get("Tokens per second") {
            r if r.is_finite() => format!("{r:.0}"),
            _ => "-".to_string(),
        };
        println!(
            "step {step}/{} | loss {mean:.4} | lr {:.2e} | {rate} tok/s",
            self.first_step + self.steps,
            get("Learning Rate"),
        );
    }

    fn render_valid(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        let Some(progress) = item.progress else {
            return;
        };
        if self.every == 0 || progress.items_processed < progress.items_total {
            return;
        }
        let figures: Vec<String> = self
            .valid
            .drain(..)
            .map(|(name, sum, count)| match (name.as_str(), sum / count) {
                ("Retrieval accuracy", mean) => format!("{name} {mean:.1} %"),
                (_, mean) => format!("{name} {mean:.4}"),
            })
            .collect();
        let step = self.losses.last_step().unwrap_or(self.first_step);
        println!("eval after step {step} | {}", figures.join(" | "));
    }

    /// The learner's summary is not printed: the example prints its own.
    fn on_train_end(
        &mut self,
        _: Option<burn_train::LearnerSummary>,
    ) -> Result<(), Box<dyn core::error::Error>> {
        Ok(())
    }
}

impl MetricsRendererEvaluation for LineRenderer {
    fn update_test(&mut self, _: EvaluationName, _: MetricState) {}

    fn render_test(&mut self, _: EvaluationProgress, _: Vec<ProgressType>) {}
}

impl MetricsRenderer for LineRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
