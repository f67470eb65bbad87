//! A quiet renderer for the learner: one line per split of each epoch, with the mean loss
//! (burn-train's own CLI renderer prints every batch).

use burn::train::logger::{EvaluationProgressLogger, TrainingProgressLogger};
use burn::train::metric::{MetricDefinition, NumericEntry};
use burn::train::renderer::{
    EvaluationName, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining,
};

/// Prints `epoch 2/3 train loss 1.234` at the end of each split.
#[derive(Debug, Default)]
pub struct EpochLines {
    epoch: usize,
    epochs: usize,
    split: String,
    /// Sum and count of the split's per-batch losses.
    loss: (f64, usize),
}

impl EpochLines {
    fn record(&mut self, state: MetricState) {
        if let MetricState::Numeric(_, Some(entry)) = state {
            let value = match entry {
                NumericEntry::Value(v) | NumericEntry::Final(v) => v,
                NumericEntry::Aggregated {
                    aggregated_value, ..
                } => aggregated_value,
            };
            self.loss = (self.loss.0 + value, self.loss.1 + 1);
        }
    }
}

impl MetricsRendererTraining for EpochLines {
    fn update_train(&mut self, state: MetricState) {
        self.record(state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record(state);
    }
}

impl TrainingProgressLogger for EpochLines {
    fn start(&mut self, epochs: usize, starting_epoch: usize, _: Option<usize>, _: Option<&str>) {
        (self.epochs, self.epoch) = (epochs, starting_epoch);
    }

    fn update_epoch(&mut self, epoch: usize) {
        self.epoch = epoch + 1;
    }

    fn start_split(&mut self, split: &str, _total_items: usize) {
        self.split = split.to_string();
        self.loss = (0.0, 0);
    }

    fn update_split(&mut self, _items_processed: usize) {}

    fn end_split(&mut self) {
        let (sum, count) = self.loss;
        println!(
            "epoch {}/{} {} loss {:.4}",
            self.epoch.max(1),
            self.epochs,
            self.split,
            sum / count.max(1) as f64
        );
    }

    fn end(&mut self) {}

    fn log_event_training(&mut self, _event: String) {}
}

impl EvaluationProgressLogger for EpochLines {
    fn start_global_progress(&mut self, _total_tests: usize) {}
    fn start_test(&mut self, _name: &str, _total_items: usize) {}
    fn update_test_progress(&mut self, _items_processed: usize) {}
    fn end_test(&mut self) {}
    fn end_global_progress(&mut self) {}
    fn log_event_evaluation(&mut self, _event: String) {}
}

impl MetricsRendererEvaluation for EpochLines {
    fn update_test(&mut self, _name: EvaluationName, _state: MetricState) {}
}

impl MetricsRenderer for EpochLines {
    fn manual_close(&mut self) {}
    fn register_metric(&mut self, _definition: MetricDefinition) {}
}
