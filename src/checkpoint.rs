//! A training run on disk: `model.json` (the [`TransformerConfig`], RoPE included),
//! `train.json` (how it was trained), `model.mpk` (the weights) and `optimizer.mpk`.

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::module::Module;
use burn::optim::Optimizer;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};

use crate::data::TaskSpec;
use crate::model::{Transformer, TransformerConfig};
use crate::train::TrainConfig;

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

    /// Saves the model, its config and the training state.
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
        let json = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
        std::fs::write(self.path("train.json"), json)
            .map_err(|e| format!("cannot write train.json: {e}"))?;
        model
            .clone()
            .save_file(self.path("model"), &recorder())
            .map_err(|e| format!("cannot write model.mpk: {e}"))
    }

    /// The saved model config and training state.
    pub fn load_configs(&self) -> Result<(TransformerConfig, TrainState), String> {
        let config = TransformerConfig::load(self.path("model.json"))
            .map_err(|e| format!("cannot read {}: {e}", self.path("model.json").display()))?;
        let path = self.path("train.json");
        let json = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let state = serde_json::from_str(&json)
            .map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
        Ok((config, state))
    }

    /// The saved model, built from `config` (whose RoPE may differ from the saved one's: RoPE
    /// has no weights).
    pub fn load_model<B: Backend>(
        &self,
        config: &TransformerConfig,
        device: &B::Device,
    ) -> Result<Transformer<B>, String> {
        config
            .init::<B>(device)
            .load_file(self.path("model"), &recorder(), device)
            .map_err(|e| format!("cannot load {}: {e}", self.path("model.mpk").display()))
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
