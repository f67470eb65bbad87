//! Training on burn-train's `Learner` with the device chosen at run time: a [`TinyLm`] with
//! RoPE learns the copy task ([`data`]). Used by `examples/train.rs`.

pub mod data;
pub mod model;
mod renderer;

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use burn::train::metric::LossMetric;
use burn::train::{InferenceStep, Learner, SupervisedTraining};
use burn_rotary::RopeConfig;

use data::{CopyBatch, CopyBatcher, copy_dataset};
use model::{TinyLm, TinyLmConfig};

/// What one training run does.
#[derive(Debug, Clone)]
pub struct TrainSettings {
    /// Where the model is trained (made autodiff by the learner).
    pub device: Device,
    /// Passes over the training set.
    pub epochs: usize,
    /// Training sequences per epoch.
    pub train_items: usize,
    /// Validation sequences.
    pub valid_items: usize,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Tokens copied (each sequence is `2 * half + 1` long).
    pub half: usize,
    /// Token ids (2 of them are the padding-free separator and an unused id).
    pub vocab_size: usize,
    /// AdamW's learning rate.
    pub lr: f64,
    /// Seed of the data, the initial weights and the shuffling.
    pub seed: u64,
    /// The RoPE of every layer.
    pub rope: RopeConfig,
    /// A new folder for the learner's logs, `model.json` (the config) and `model.bpk`.
    pub out: PathBuf,
}

impl TrainSettings {
    /// Refuses settings that give no run (a count of 0, a non-finite or non-positive learning
    /// rate, an invalid RoPE config), naming the field.
    fn check(&self) -> Result<(), String> {
        let counts = [
            ("epochs", self.epochs),
            ("train_items", self.train_items),
            ("valid_items", self.valid_items),
            ("batch_size", self.batch_size),
            ("half", self.half),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name}: must be at least 1"));
        }
        if self.vocab_size < 3 {
            return Err(format!(
                "vocab_size: {} leaves no content token (ids 0 and 1 are taken)",
                self.vocab_size
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("lr: {} is not a finite number > 0", self.lr));
        }
        self.rope.validate().map_err(|e| format!("rope: {e}"))
    }
}

/// The validation loss before and after training.
#[derive(Debug, Clone, Copy)]
pub struct TrainSummary {
    /// Mean validation loss of the initial model.
    pub loss_before: f64,
    /// Mean validation loss of the trained model.
    pub loss_after: f64,
}

/// Trains, saves and reports. `out` must not exist yet (or be empty): nothing a user has is
/// overwritten.
pub fn run(settings: &TrainSettings) -> Result<TrainSummary, String> {
    settings.check()?;
    check_out(&settings.out)?;
    let device = &settings.device;
    device.seed(settings.seed);
    let config = TinyLmConfig::new(settings.vocab_size, settings.rope.clone())
        .with_d_model(4 * settings.rope.head_dim)
        .with_n_heads(4);
    // Built on the autodiff device, as burn-train expects (its fork does not make the
    // parameters of a model built elsewhere require gradients).
    let model = config.init(&device.clone().autodiff());

    let loader = |items, seed| {
        DataLoaderBuilder::new(CopyBatcher)
            .batch_size(settings.batch_size)
            .shuffle(seed)
            .set_device(device.clone())
            .build(copy_dataset(
                items,
                settings.half,
                settings.vocab_size,
                seed,
            ))
    };
    let train = loader(settings.train_items, settings.seed);
    let valid = loader(settings.valid_items, settings.seed ^ 0x5EED);
    let loss_before = mean_loss(&model, valid.as_ref())?;

    let learner = Learner::new(model, AdamWConfig::new().init(), settings.lr);
    let result = SupervisedTraining::new(&settings.out, train, valid.clone())
        .num_epochs(settings.epochs)
        .metric_train_numeric(LossMetric::new())
        .metric_valid_numeric(LossMetric::new())
        .with_application_logger(None)
        .renderer(Box::new(renderer::EpochLines::default()))
        .launch(learner);
    if let Some(error) = result.error {
        return Err(format!("training failed: {error}"));
    }
    let loss_after = mean_loss(&result.model, valid.as_ref())?;
    if !loss_after.is_finite() {
        return Err(format!(
            "training diverged: validation loss {loss_after} (lower --lr)"
        ));
    }

    let json = settings.out.join("model.json");
    config
        .save(&json)
        .map_err(|e| format!("cannot write {}: {e}", json.display()))?;
    let weights = settings.out.join("model.bpk");
    result
        .model
        .save_file(&weights)
        .map_err(|e| format!("cannot write {}: {e}", weights.display()))?;
    Ok(TrainSummary {
        loss_before,
        loss_after,
    })
}

/// The mean loss over a loader's batches (validation mode: no autodiff).
fn mean_loss(model: &TinyLm, loader: &dyn DataLoader<CopyBatch>) -> Result<f64, String> {
    let model = model.valid();
    let (mut sum, mut batches) = (0.0, 0usize);
    for batch in loader.iter() {
        let batch = batch.map_err(|e| format!("validation data: {e}"))?;
        let output = InferenceStep::step(&model, batch);
        sum += output.loss.into_scalar::<f64>();
        batches += 1;
    }
    match batches {
        0 => Err("validation data: no batches".into()),
        n => Ok(sum / n as f64),
    }
}

/// Refuses an output folder that holds anything.
fn check_out(out: &Path) -> Result<(), String> {
    match std::fs::read_dir(out).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(format!(
            "--out {}: the folder is not empty; choose a new one (nothing is overwritten)",
            out.display()
        )),
        Ok(false) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("--out {}: {e}", out.display())),
    }
}
