//! A training run on disk: `model.json` (the [`TransformerConfig`], RoPE included),
//! `train.json` (how it was trained), `model.mpk` (the weights) and `optimizer.mpk` (the plain
//! loop's) or `checkpoint/` (the learner's, per epoch); and [`Staging`], which runs in a copy of
//! the folder and swaps it in only when the run succeeds.

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

/// A run's work folder: a copy of the run's folder (without the learner's folders of an
/// earlier run, for a new run), which [`commit`](Self::commit) swaps in for the folder. A run
/// that fails drops it, leaving the folder as it was.
pub struct Staging {
    dir: PathBuf,
    work: PathBuf,
    committed: bool,
}

/// The learner's folders of a run (checkpoints, metric logs).
const LEARNER_DIRS: [&str; 3] = ["checkpoint", "train", "valid"];

impl Staging {
    /// Copies `dir` (if it exists) to a work folder beside it; `resume` keeps the learner's
    /// folders (a new run starts without them).
    pub fn begin(dir: &Path, resume: bool) -> Result<Self, String> {
        let name = dir
            .file_name()
            .map_or("run".into(), |n| n.to_string_lossy());
        let work = dir.with_file_name(format!(".{name}.partial-{}", std::process::id()));
        std::fs::remove_dir_all(&work).ok();
        let skip: &[&str] = if resume { &[] } else { &LEARNER_DIRS };
        if dir.exists() {
            copy_dir(dir, &work, skip)
        } else {
            std::fs::create_dir_all(&work)
        }
        .map_err(|e| format!("cannot stage {} in {}: {e}", dir.display(), work.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            work,
            committed: false,
        })
    }

    /// The work folder.
    pub fn work(&self) -> &Path {
        &self.work
    }

    /// Puts the work folder in place of the run's folder (which is removed once replaced).
    pub fn commit(mut self) -> Result<(), String> {
        let old = self
            .work
            .with_extension(format!("old-{}", std::process::id()));
        let had_dir = self.dir.exists();
        if had_dir {
            std::fs::rename(&self.dir, &old)
                .map_err(|e| format!("cannot move {} aside: {e}", self.dir.display()))?;
        }
        if let Err(e) = std::fs::rename(&self.work, &self.dir) {
            if had_dir {
                std::fs::rename(&old, &self.dir).ok();
            }
            return Err(format!(
                "cannot move the run into {}: {e}",
                self.dir.display()
            ));
        }
        self.committed = true;
        std::fs::remove_dir_all(&old).ok();
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            std::fs::remove_dir_all(&self.work).ok();
        }
    }
}

fn copy_dir(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == *s) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dst, &[])?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that fails leaves the folder as it was; one that succeeds replaces it, keeping the
    /// user's other files and (for a new run) dropping the earlier run's learner folders.
    #[test]
    fn staging_swaps_in_only_on_commit() {
        let root = std::env::temp_dir().join(format!("burn-rotary-staging-{}", std::process::id()));
        let dir = root.join("run");
        std::fs::create_dir_all(dir.join("checkpoint")).unwrap();
        std::fs::write(dir.join("model.mpk"), "old weights").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        std::fs::write(dir.join("checkpoint/model-3.mpk"), "old epoch").unwrap();

        let failed = Staging::begin(&dir, false).unwrap();
        std::fs::write(failed.work().join("model.mpk"), "half written").unwrap();
        let work = failed.work().to_path_buf();
        drop(failed);
        assert!(!work.exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("model.mpk")).unwrap(),
            "old weights"
        );

        let resumed = Staging::begin(&dir, true).unwrap();
        assert!(resumed.work().join("checkpoint/model-3.mpk").is_file());
        drop(resumed);

        let run = Staging::begin(&dir, false).unwrap();
        assert!(!run.work().join("checkpoint").exists());
        std::fs::write(run.work().join("model.mpk"), "new weights").unwrap();
        run.commit().unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("model.mpk")).unwrap(),
            "new weights"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            std::fs::read_dir(&root).unwrap().count(),
            1,
            "only the run's folder is left"
        );
        std::fs::remove_dir_all(root).ok();
    }
}
