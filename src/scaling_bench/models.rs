//! The benchmark's models: initialised in a fixed order, trained, fine-tuned, and cached on
//! disk under a name derived from everything that determines them.
//!
//! A cached model is replaced only by a complete new one: it is written to a temporary folder
//! first and renamed into place, so an interrupted or failed run leaves the cache as it was.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use burn_rotary::RopeBackend;
use serde::Serialize;

use super::corpus::Fnv;
use crate::data::Task;
use crate::model::{Transformer, TransformerConfig};
use crate::train::{train_with, TrainConfig};

/// A new model for `seed`, every weight drawn now: `B::seed` then each parameter in module
/// order. Burn initialises parameters lazily, at their first use; drawing them here, on the
/// caller's thread, keeps the draws in one order when the training runs on worker threads.
pub fn init_model<B: Backend>(
    config: &TransformerConfig,
    seed: u64,
    device: &B::Device,
) -> Transformer<B> {
    B::seed(device, seed);
    let model = config.init::<B>(device);
    model.visit(&mut DrawWeights);
    model
}

/// Touches every float parameter, which draws a lazily initialised one.
struct DrawWeights;

impl<B: Backend> ModuleVisitor<B> for DrawWeights {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Trains `model` from scratch with `config`, calling `on_step` after each step; an error if
/// the training diverged.
pub fn train_model<B>(
    model: Transformer<B>,
    task: &Task,
    config: &TrainConfig,
    device: &B::Device,
    on_step: &dyn Fn(usize),
) -> Result<Transformer<B>, String>
where
    B: AutodiffBackend + RopeBackend,
{
    let mut optimizer = config.optimizer().init::<B, Transformer<B>>();
    let (model, report) = train_with(
        model,
        &mut optimizer,
        task,
        config,
        0,
        device,
        &mut |_, _| on_step(config.batch_size * config.seq_len),
    );
    report.check_finite()?;
    Ok(model)
}

/// The fine-tuning config: `steps` steps at `len` tokens with as many tokens per step as
/// training had, a tenth of its peak learning rate, a one-step warm-up and its own data seed.
pub fn finetune_config(train: &TrainConfig, steps: usize, len: usize) -> TrainConfig {
    let tokens = train.batch_size * train.seq_len;
    train
        .clone()
        .with_steps(steps)
        .with_seq_len(len)
        .with_batch_size((tokens / len).max(2))
        .with_learning_rate(train.learning_rate / 10.0)
        .with_warmup_steps(1)
        .with_seed(train.seed ^ 0xF1_7E)
}

/// Models on disk, one folder per identity.
#[derive(Debug, Clone)]
pub struct ModelCache {
    root: PathBuf,
}

/// The record format: full precision, so a loaded model computes what the saved one did.
fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

impl ModelCache {
    /// The cache in `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder of the model named `label` with `identity` (everything that determines its
    /// weights): `<root>/<label>-<FNV-1a of the identity's JSON>`.
    pub fn dir(&self, label: &str, identity: &impl Serialize) -> PathBuf {
        let json = serde_json::to_string(identity).expect("identity serialises");
        self.root
            .join(format!("{label}-{:016x}", Fnv::of(json.as_bytes())))
    }

    /// The cached model, if its folder holds one of exactly this identity.
    pub fn load<B: Backend>(
        &self,
        label: &str,
        identity: &impl Serialize,
        config: &TransformerConfig,
        device: &B::Device,
    ) -> Option<Transformer<B>> {
        let dir = self.dir(label, identity);
        let saved = std::fs::read_to_string(dir.join("identity.json")).ok()?;
        let wanted = serde_json::to_string_pretty(identity).ok()?;
        if saved != wanted {
            return None;
        }
        config
            .init::<B>(device)
            .load_file(dir.join("model"), &recorder(), device)
            .ok()
    }

    /// Saves `model` as `label` with `identity`, replacing a cached one only once the new one
    /// is complete.
    pub fn save<B: Backend>(
        &self,
        label: &str,
        identity: &impl Serialize,
        model: &Transformer<B>,
    ) -> Result<PathBuf, String> {
        let dir = self.dir(label, identity);
        let pid = std::process::id();
        let tmp = with_suffix(&dir, &format!("tmp-{pid}"));
        let old = with_suffix(&dir, &format!("old-{pid}"));
        let err = |what: &str, e: &dyn std::fmt::Display| format!("cannot {what}: {e}");
        std::fs::create_dir_all(&tmp).map_err(|e| err(&format!("create {}", tmp.display()), &e))?;
        let json = serde_json::to_string_pretty(identity).map_err(|e| err("serialise", &e))?;
        let written = std::fs::write(tmp.join("identity.json"), json)
            .map_err(|e| err("write identity.json", &e))
            .and_then(|()| {
                model
                    .clone()
                    .save_file(tmp.join("model"), &recorder())
                    .map_err(|e| err(&format!("write {}", tmp.display()), &e))
            });
        if let Err(e) = written {
            std::fs::remove_dir_all(&tmp).ok();
            return Err(e);
        }
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(&dir, &old).map_err(|e| err(&format!("move {}", dir.display()), &e))?;
        }
        if let Err(e) = std::fs::rename(&tmp, &dir) {
            if had_old {
                std::fs::rename(&old, &dir).ok();
            }
            return Err(err(&format!("move {} into place", tmp.display()), &e));
        }
        if had_old {
            std::fs::remove_dir_all(&old).ok();
        }
        Ok(dir)
    }
}

fn with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}
