//! A training run on disk: `model.json` (the [`TransformerConfig`], RoPE included),
//! `train.json` (how it was trained), `model.mpk` (the weights) and `optimizer.mpk` (the plain
//! loop's) or `checkpoint/` (the learner's, per epoch). A run works in a copy of the folder
//! ([`Staging`](crate::staging::Staging)), swapped in only when it succeeds.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::TrainConfig;
use crate::data::{Task, TaskSpec};
use crate::model::{Transformer, TransformerConfig};
use crate::panic_report::catching_panics;

/// Full precision, so that a loaded model computes exactly what the saved one did.
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// How a saved model was trained (`train.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// The training config of the last run.
    pub train: TrainConfig,
    /// What it trained on.
    pub task: TaskSpec,
    /// Optimiser steps done so far, over all runs.
    pub steps_done: usize,
    /// Steps per epoch of the learner's runs (its checkpoints are per epoch); 0 for a run of
    /// the plain loop.
    #[serde(default)]
    pub steps_per_epoch: usize,
    /// Hash of `model.json` as saved, and of the text trained on: a resumed run checks both.
    #[serde(default)]
    pub fingerprint: Fingerprint,
    /// Whether the last run packed several documents into each training row.
    #[serde(default)]
    pub packed: bool,
}

/// What a resumed run must find unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// FNV-1a of `model.json`'s bytes.
    pub model_json: Option<u64>,
    /// FNV-1a of the text file's bytes (`None` for the generated task).
    pub data: Option<u64>,
}

impl Fingerprint {
    /// The fingerprint of `task`'s data: the text file's FNV-1a, `None` for the generated task.
    pub fn of_data(task: &TaskSpec) -> Result<Option<u64>, String> {
        match task {
            TaskSpec::Text(path) => std::fs::read(path)
                .map(|bytes| Some(fnv1a(&bytes)))
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            TaskSpec::Retrieval(_) => Ok(None),
        }
    }
}

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl TrainState {
    /// The state of a new run: nothing done yet.
    pub fn new(train: TrainConfig, task: TaskSpec) -> Self {
        Self {
            train,
            task,
            steps_done: 0,
            steps_per_epoch: 0,
            fingerprint: Fingerprint::default(),
            packed: false,
        }
    }

    /// Checks that a saved run can be resumed from `checkpoint`: its `model.json` and data are
    /// those it was trained with, and its learner checkpoint of the last epoch is there.
    pub fn check_resumable(&self, checkpoint: &Checkpoint, task: &TaskSpec) -> Result<(), String> {
        let dir = checkpoint.dir().display();
        if self.steps_per_epoch == 0 || !self.steps_done.is_multiple_of(self.steps_per_epoch) {
            return Err(format!(
                "{dir}/train.json: {} steps done in epochs of {} steps is not a run of the \
                 learner's that can be resumed",
                self.steps_done, self.steps_per_epoch
            ));
        }
        let model_json = std::fs::read(checkpoint.path("model.json")).map_err(|e| e.to_string())?;
        if self.fingerprint.model_json != Some(fnv1a(&model_json)) {
            return Err(format!(
                "{dir}/model.json changed since the run saved it: resuming needs the model \
                 config its weights were trained with"
            ));
        }
        if self.fingerprint.data != Fingerprint::of_data(task)? {
            return Err(format!(
                "the training text changed since the run in {dir} saved it: resume on the text \
                 it was trained on, or start a new run"
            ));
        }
        let epoch = self.steps_done / self.steps_per_epoch;
        for part in ["model", "optim", "scheduler"] {
            let path = checkpoint.path(&format!("checkpoint/{part}-{epoch}.mpk"));
            if !path.is_file() {
                return Err(format!(
                    "{} is missing: the learner's checkpoint of epoch {epoch} ({} steps done) \
                     is needed to resume",
                    path.display(),
                    self.steps_done
                ));
            }
        }
        Ok(())
    }
}

/// The files of a run in one folder.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
}

impl Checkpoint {
    /// The run in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of a file of the run.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Saves the model, its config and the training state (with the fingerprint of the
    /// `model.json` it writes).
    pub fn save<B: Backend>(
        &self,
        model: &Transformer<B>,
        config: &TransformerConfig,
        state: &TrainState,
    ) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        config
            .save(self.path("model.json"))
            .map_err(|e| format!("cannot write model.json: {e}"))?;
        let mut state = state.clone();
        let model_json = std::fs::read(self.path("model.json")).map_err(|e| e.to_string())?;
        state.fingerprint.model_json = Some(fnv1a(&model_json));
        let json = serde_json::to_string_pretty(&state).map_err(|e| e.to_string())?;
        std::fs::write(self.path("train.json"), json)
            .map_err(|e| format!("cannot write train.json: {e}"))?;
        model
            .clone()
            .save_file(self.path("model"), &recorder())
            .map_err(|e| format!("cannot write model.mpk: {e}"))
    }

    /// The saved model config (validated) and training state.
    pub fn load_configs(&self) -> Result<(TransformerConfig, TrainState), String> {
        let path = self.path("model.json");
        let config = TransformerConfig::load(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        config
            .validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let path = self.path("train.json");
        let json = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let state = serde_json::from_str(&json)
            .map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        Ok((config, state))
    }

    /// The saved run with its task, checked against each other: the text hashes as it did when
    /// the run was saved (`train.json`'s fingerprint), and gives the model's token ids.
    pub fn load_run(&self) -> Result<(TransformerConfig, TrainState, Task), String> {
        let (config, state) = self.load_configs()?;
        let dir = self.dir.display();
        if let Some(saved) = state.fingerprint.data {
            if Fingerprint::of_data(&state.task)? != Some(saved) {
                return Err(format!(
                    "the training text of the run in {dir} changed since it was saved: its \
                     vocabulary and the model no longer match"
                ));
            }
        }
        let task = state.task.load()?;
        if config.vocab_size != task.vocab_size() {
            return Err(format!(
                "{dir}: model.json has {} token ids but its task has {}",
                config.vocab_size,
                task.vocab_size()
            ));
        }
        Ok((config, state, task))
    }

    /// The saved model, built from `config` (whose RoPE may differ from the saved one's: RoPE
    /// has no weights).
    pub fn load_model<B: Backend>(
        &self,
        config: &TransformerConfig,
        device: &B::Device,
    ) -> Result<Transformer<B>, String> {
        self.load_model_file("model", config, device)
    }

    /// The model saved as `name`.mpk in the run's folder (`checkpoint/model-3` for a learner's
    /// checkpoint), checked to hold a weight of `config`'s shape for every parameter: a file
    /// that is corrupted or of another config is an error naming it, never a panic later.
    pub fn load_model_file<B: Backend>(
        &self,
        name: &str,
        config: &TransformerConfig,
        device: &B::Device,
    ) -> Result<Transformer<B>, String> {
        let path = self.path(&format!("{name}.mpk"));
        let fresh = config.init::<B>(device);
        let expected = param_shapes(&fresh);
        let loaded = catching_panics(|| {
            fresh
                .load_file(self.path(name), &recorder(), device)
                .map_err(|e| e.to_string())
        })
        .map_err(|e| format!("cannot load {}: {e}", path.display()))?;
        let shapes = param_shapes(&loaded);
        if shapes != expected {
            let i = (0..shapes.len().max(expected.len()))
                .find(|&i| shapes.get(i) != expected.get(i))
                .unwrap_or(0);
            return Err(format!(
                "{}: weight {i} has shape {:?} where model.json needs {:?} ({} weights for {}): \
                 these are not the weights of this model.json",
                path.display(),
                shapes.get(i),
                expected.get(i),
                shapes.len(),
                expected.len()
            ));
        }
        Ok(loaded)
    }

    /// Saves the optimiser state.
    pub fn save_optimizer<B, M, O>(&self, optimizer: &O) -> Result<(), String>
    where
        B: AutodiffBackend,
        M: burn::module::AutodiffModule<B>,
        O: Optimizer<M, B>,
    {
        Recorder::<B>::record(&recorder(), optimizer.to_record(), self.path("optimizer"))
            .map_err(|e| format!("cannot write optimizer.mpk: {e}"))
    }

    /// Loads the optimiser state into `optimizer`.
    pub fn load_optimizer<B, M, O>(&self, optimizer: O, device: &B::Device) -> Result<O, String>
    where
        B: AutodiffBackend,
        M: burn::module::AutodiffModule<B>,
        O: Optimizer<M, B>,
    {
        let record = Recorder::<B>::load(&recorder(), self.path("optimizer"), device)
            .map_err(|e| format!("cannot load optimizer.mpk: {e}"))?;
        Ok(optimizer.load_record(record))
    }
}

/// The shape of every float parameter, in visiting order (a lazy parameter is not drawn).
fn param_shapes<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
    struct Shapes(Vec<Vec<usize>>);
    impl<B: Backend> ModuleVisitor<B> for Shapes {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.lazy_shape().to_vec());
        }
    }
    let mut shapes = Shapes(Vec::new());
    module.visit(&mut shapes);
    shapes.0
}
