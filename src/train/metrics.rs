//! What a training step reports on the host ([`LmStats`]) and the learner's metrics over it:
//! loss (recording every step's, [`StepLosses`]), retrieval accuracy and tokens per second.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use burn_train::metric::state::{FormatOptions, NumericMetricState};
use burn_train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};

/// A step's figures on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct LmStats {
    /// The optimiser step (from 1, over every run).
    pub step: usize,
    /// Mean next-token cross-entropy of the batch.
    pub loss: f64,
    /// The batch's share of its global batch.
    pub weight: f64,
    /// Retrieval answers predicted right, and asked.
    pub correct: usize,
    /// Retrieval questions in the batch (0 for text).
    pub asked: usize,
    /// Input tokens of the batch.
    pub tokens: usize,
}

impl Adaptor<LmStats> for LmStats {
    fn adapt(&self) -> LmStats {
        self.clone()
    }
}

/// The training loss of every step, `step -> Σ share × loss` over the workers' parts.
#[derive(Clone, Default)]
pub struct StepLosses(Arc<Mutex<BTreeMap<usize, f64>>>);

impl StepLosses {
    fn add(&self, stats: &LmStats) {
        *self.0.lock().unwrap().entry(stats.step).or_default() += stats.weight * stats.loss;
    }

    /// `(step, loss)` in step order.
    pub fn to_vec(&self) -> Vec<(usize, f64)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|(&s, &l)| (s, l))
            .collect()
    }

    /// The last step recorded.
    pub fn last_step(&self) -> Option<usize> {
        self.0.lock().unwrap().keys().next_back().copied()
    }

    /// Mean loss of the steps in `range`.
    pub fn mean(&self, range: std::ops::RangeInclusive<usize>) -> f64 {
        let losses = self.0.lock().unwrap();
        let values: Vec<f64> = losses.range(range).map(|(_, &l)| l).collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    }
}

/// Mean next-token cross-entropy (nats); on the training split it also records every step's
/// loss in a [`StepLosses`].
#[derive(Clone)]
pub struct LossMetric {
    state: NumericMetricState,
    record: Option<StepLosses>,
}

impl LossMetric {
    /// The metric, recording steps into `record` if given.
    pub fn new(record: Option<StepLosses>) -> Self {
        Self {
            state: NumericMetricState::new(),
            record,
        }
    }
}

/// A metric's boilerplate: name, attributes, clear, and [`Numeric`] from its state.
macro_rules! numeric_metric {
    ($metric:ty, $name:expr, $higher_is_better:expr, $unit:expr) => {
        impl Numeric for $metric {
            fn value(&self) -> NumericEntry {
                self.state.current_value()
            }
            fn running_value(&self) -> NumericEntry {
                self.state.running_value()
            }
        }

        impl $metric {
            fn format(&self) -> FormatOptions {
                let format = FormatOptions::new(Arc::new($name.to_string())).precision(4);
                match $unit {
                    Some(unit) => format.unit(unit),
                    None => format,
                }
            }
        }

        impl Metric for $metric {
            type Input = LmStats;

            fn name(&self) -> MetricName {
                Arc::new($name.to_string())
            }

            fn attributes(&self) -> MetricAttributes {
                NumericAttributes {
                    unit: $unit.map(str::to_string),
                    higher_is_better: $higher_is_better,
                }
                .into()
            }

            fn update(&mut self, item: &LmStats, _: &MetricMetadata) -> SerializedEntry {
                self.observe(item)
            }

            fn clear(&mut self) {
                self.reset();
            }
        }
    };
}

impl LossMetric {
    fn observe(&mut self, item: &LmStats) -> SerializedEntry {
        if let Some(record) = &self.record {
            record.add(item);
        }
        let format = self.format();
        self.state.update(item.loss, item.tokens, format)
    }

    fn reset(&mut self) {
        self.state.reset();
    }
}
numeric_metric!(LossMetric, "Loss", false, None::<&str>);

/// Retrieval accuracy (%) at the last position.
#[derive(Clone, Default)]
pub struct RetrievalAccuracy {
    state: NumericMetricState,
}

impl RetrievalAccuracy {
    fn observe(&mut self, item: &LmStats) -> SerializedEntry {
        let accuracy = 100.0 * item.correct as f64 / item.asked.max(1) as f64;
        let format = self.format();
        self.state.update(accuracy, item.asked.max(1), format)
    }

    fn reset(&mut self) {
        self.state.reset();
    }
}
numeric_metric!(RetrievalAccuracy, "Retrieval accuracy", true, Some("%"));

/// Training tokens per second over every worker, from the end of the epoch's first step (the
/// first step has no rate: NaN).
#[derive(Clone, Default)]
pub struct TokensPerSecond {
    state: NumericMetricState,
    /// The epoch's first step, when it was reported, and the tokens of the later steps.
    since: Option<(usize, Instant, usize)>,
}

impl TokensPerSecond {
    fn observe(&mut self, item: &LmStats) -> SerializedEntry {
        let (first, start, tokens) = self.since.get_or_insert((item.step, Instant::now(), 0));
        if item.step > *first {
            *tokens += item.tokens;
        }
        let rate = match *tokens {
            0 => f64::NAN,
            n => n as f64 / start.elapsed().as_secs_f64(),
        };
        let format = self.format();
        self.state.update(rate, 1, format)
    }

    fn reset(&mut self) {
        self.state.reset();
        self.since = None;
    }
}
numeric_metric!(TokensPerSecond, "Tokens per second", true, None::<&str>);
