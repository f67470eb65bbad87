//! The scaling benchmark: which RoPE scaling runs a model beyond the context it was trained
//! on, measured on real text and on a retrieval task, over several training seeds.
//!
//! 1. For each seed, train a byte-level model on text ([`corpus`]) and one on the synthetic
//!    retrieval task at context `L` with plain RoPE, or load them from `<out>/models` when a
//!    model of exactly the same identity (task, configs, seed) is cached there.
//! 2. Score each at `L * r` for each ratio `r` with every [`Method`](crate::scaling_methods::Method), its parameters
//!    derived from the target length, without training: loss by position bucket
//!    on held-out text; retrieval accuracy by depth of the queried key.
//! 3. Fine-tune the text models briefly at `finetune_ratio × L` with the methods the
//!    literature fine-tunes (position interpolation, YaRN) and score them at every length.
//!
//! Every job (a training, a method's scoring of one model, a fine-tune) runs on one thread
//! of a worker ([`jobs`]), so the numbers do not depend on scheduling, and a binary that
//! installs [`AlignedAlloc`] (the example and the smoke test do) computes the same numbers on
//! every run: the same config gives the same tables on the same machine.

mod alloc;
pub mod cli;
mod config;
pub mod corpus;
mod eval;
pub mod jobs;
mod models;
mod plots;
mod report;
mod retrieval_verdict;
mod run;
mod scoring;
mod verdict;

use crate::data::Retrieval;

pub use alloc::AlignedAlloc;
pub use config::{BenchConfig, TextSource, MAX_LENGTH};
pub use eval::{buckets, score, EvalSet, Score};
pub use models::{init_model, ModelCache};
pub use plots::write_plots;
pub use report::{csv, markdown, write_atomic, write_csv, Spread};
pub use run::run;

/// The two tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TaskKind {
    /// Next-byte prediction on held-out text.
    Text,
    /// The synthetic key-value retrieval task.
    Retrieval,
}

impl TaskKind {
    /// Name, as in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Retrieval => "retrieval",
        }
    }
}

/// One method at one length on one task: a score per seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The task.
    pub task: TaskKind,
    /// The method's name; `+ft` when fine-tuned.
    pub method: String,
    /// Scored context length.
    pub length: usize,
    /// The extension ratio its parameters were derived for.
    pub factor: f64,
    /// The scores, one per seed, in [`BenchResults::seeds`] order.
    pub scores: Vec<Score>,
    /// How its parameters were chosen, when not by formula alone.
    pub note: String,
}

/// Everything the benchmark measured.
#[derive(Debug, Clone)]
pub struct BenchResults {
    /// Training context `L`.
    pub train_len: usize,
    /// Scored lengths, ascending.
    pub lengths: Vec<usize>,
    /// Depths of the retrieval key.
    pub depths: Vec<f64>,
    /// The training seeds.
    pub seeds: Vec<u64>,
    /// One row per task, method and length.
    pub rows: Vec<Row>,
    /// The text: where it came from and its fingerprint.
    pub corpus: String,
    /// The model, in words.
    pub model: String,
    /// The model's head dimension and RoPE base.
    pub head_dim: usize,
    /// RoPE base `theta`.
    pub theta: f64,
    /// `(steps, length)` of the fine-tunes, if any.
    pub finetune: Option<(usize, usize)>,
    /// How the models were obtained (trained or loaded, and how long training took).
    pub models_source: String,
    /// The retrieval task, if it ran.
    pub retrieval: Option<Retrieval>,
    /// Worker threads used.
    pub workers: usize,
    /// Wall time of the run, seconds.
    pub seconds: f64,
}

impl BenchResults {
    /// The methods of `task`, in row order, each once.
    pub fn methods(&self, task: TaskKind) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for row in self.rows.iter().filter(|r| r.task == task) {
            if !names.contains(&row.method.as_str()) {
                names.push(&row.method);
            }
        }
        names
    }

    /// Whether any row is of `task`.
    pub fn has(&self, task: TaskKind) -> bool {
        self.rows.iter().any(|r| r.task == task)
    }

    /// The row of `method` at `length` on `task`.
    pub fn row(&self, task: TaskKind, method: &str, length: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.task == task && r.method == method && r.length == length)
    }
}
