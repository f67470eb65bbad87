//! Batches for `burn-train`'s learner: an epoch is `steps` global batches, each split between
//! the workers of a data-parallel run.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::TrainConfig;
use crate::data::{HostBatch, SplitMix, Task};
use crate::packing::Packing;

/// One worker's part of a global batch, on its device.
#[derive(Debug, Clone)]
pub struct LmBatch<B: Backend> {
    /// Input ids. Shape `[batch, seq]`.
    pub tokens: Tensor<B, 2, Int>,
    /// Next-token ids. Shape `[batch, seq]`.
    pub targets: Tensor<B, 2, Int>,
    /// Retrieval answers (the targets of the last positions), `None` for text. Shape `[batch]`.
    pub answers: Option<Tensor<B, 1, Int>>,
    /// The documents of each row when rows are packed.
    pub packing: Option<Packing<B>>,
    /// This part's share of the global batch (`batch / global batch`): the loss is scaled by it,
    /// so that the gradients the workers' steps sum are those of the global batch's mean loss.
    pub weight: f64,
    /// The optimiser step this batch belongs to, counted from 1 over every run.
    pub step: usize,
}

impl<B: Backend> LmBatch<B> {
    /// The batch of `host` on `device`.
    pub fn new(host: &HostBatch, weight: f64, step: usize, device: &B::Device) -> Self {
        let (tokens, targets) = host.to_tensors(device);
        let answers = (!host.answers.is_empty()).then(|| {
            Tensor::from_data(
                TensorData::new(host.answers.clone(), [host.answers.len()]),
                device,
            )
        });
        let packing = host.packing(device);
        Self {
            tokens,
            targets,
            answers,
            packing,
            weight,
            step,
        }
    }
}

/// The training data of a run: epoch `e` (counted over every run, from 0) is `steps` global
/// batches of `global_batch` rows; row `slot` of step `s` is drawn from its own seed
/// `(seed, e, s, slot)`, so the data does not depend on how the global batch is split between
/// workers, nor on where a resumed run starts. A row is one sequence, or packed documents.
///
/// [`DataLoader::slice`] (what Burn's multi-device and DDP strategies call to give each device
/// its share, `[w * n / k, (w + 1) * n / k)` of the `n` items) takes those slots of every
/// global batch: items are ordered slot-major, each slot holding one sequence per step.
pub struct StepLoader<B: Backend> {
    task: Arc<Task>,
    seed: u64,
    steps: usize,
    global_batch: usize,
    seq_len: usize,
    pack: bool,
    slots: Range<usize>,
    /// The epoch the next [`DataLoader::iter`] yields, counted over every run.
    next_epoch: AtomicUsize,
    device: B::Device,
}

impl<B: Backend> StepLoader<B> {
    /// A run's data: `steps` steps per epoch of `config.batch_size` rows of `config.seq_len`
    /// tokens drawn from `config.seed`, each packed with documents ([`Task::packed_batch`]) if
    /// `pack`, starting at epoch `first_epoch` (non-zero when resuming).
    pub fn new(
        task: Arc<Task>,
        config: &TrainConfig,
        steps: usize,
        pack: bool,
        first_epoch: usize,
        device: &B::Device,
    ) -> Self {
        assert!(
            steps > 0 && config.batch_size > 0,
            "StepLoader: empty epoch"
        );
        Self {
            task,
            seed: config.seed,
            steps,
            global_batch: config.batch_size,
            seq_len: config.seq_len,
            pack,
            slots: 0..config.batch_size,
            next_epoch: AtomicUsize::new(first_epoch),
            device: device.clone(),
        }
    }

    fn derive(
        &self,
        slots: Range<usize>,
        device: &B::Device,
    ) -> Arc<dyn DataLoader<B, LmBatch<B>>> {
        Arc::new(Self {
            task: self.task.clone(),
            seed: self.seed,
            steps: self.steps,
            global_batch: self.global_batch,
            seq_len: self.seq_len,
            pack: self.pack,
            slots,
            next_epoch: AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst)),
            device: device.clone(),
        })
    }

    /// This worker's part of step `step` (in `0..steps`) of epoch `epoch`.
    fn host_batch(&self, epoch: usize, step: usize) -> HostBatch {
        let mut rows = self.slots.clone().map(|slot| {
            let key = [epoch, step, slot].iter().fold(self.seed, |h, &x| {
                SplitMix::new(h ^ (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
            });
            let rng = &mut SplitMix::new(key);
            match self.pack {
                true => self.task.packed_batch(rng, 1, self.seq_len),
                false => self.task.batch(rng, 1, self.seq_len),
            }
        });
        let mut batch = rows.next().expect("a worker has at least one slot");
        for row in rows {
            batch.tokens.extend(row.tokens);
            batch.targets.extend(row.targets);
            batch.answers.extend(row.answers);
            batch.documents.extend(row.documents);
            batch.batch += 1;
        }
        batch
    }
}

impl<B: Backend> DataLoader<B, LmBatch<B>> for StepLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<LmBatch<B>> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(Epoch {
            loader: self,
            epoch,
            step: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.steps * self.slots.len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, LmBatch<B>>> {
        self.derive(self.slots.clone(), device)
    }

    /// Items `start..end` of [`num_items`](DataLoader::num_items): whole slots (every step's
    /// sequence of each), as Burn's strategies ask when `global_batch` is a multiple of the
    /// number of workers.
    ///
    /// # Panics
    /// If `start` or `end` does not fall on a slot boundary, or the range is empty.
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, LmBatch<B>>> {
        assert!(
            start.is_multiple_of(self.steps) && end.is_multiple_of(self.steps) && start < end,
            "StepLoader::slice: items {start}..{end} are not whole slots of {} steps (the global \
             batch must be a multiple of the number of workers)",
            self.steps
        );
        let slots = self.slots.start + start / self.steps..self.slots.start + end / self.steps;
        assert!(
            slots.end <= self.slots.end,
            "StepLoader::slice: slots {slots:?} outside {:?}",
            self.slots
        );
        self.derive(slots, &self.device)
    }
}

struct Epoch<'a, B: Backend> {
    loader: &'a StepLoader<B>,
    epoch: usize,
    step: usize,
}

impl<B: Backend> Iterator for Epoch<'_, B> {
    type Item = LmBatch<B>;

    fn next(&mut self) -> Option<LmBatch<B>> {
        let loader = self.loader;
        if self.step == loader.steps {
            return None;
        }
        let host = loader.host_batch(self.epoch, self.step);
        self.step += 1;
        let global_step = self.epoch * loader.steps + self.step;
        let weight = loader.slots.len() as f64 / loader.global_batch as f64;
        Some(LmBatch::new(&host, weight, global_step, &loader.device))
    }
}

impl<B: Backend> DataLoaderIterator<LmBatch<B>> for Epoch<'_, B> {
    fn progress(&self) -> Progress {
        let per_step = self.loader.slots.len();
        Progress::new(self.step * per_step, self.loader.steps * per_step)
    }
}

/// A fixed set of batches (the evaluation set), the same on every epoch.
pub struct FixedLoader<B: Backend> {
    batches: Arc<Vec<HostBatch>>,
    device: B::Device,
}

impl<B: Backend> FixedLoader<B> {
    /// The loader of `batches`, on `device`.
    pub fn new(batches: Vec<HostBatch>, device: &B::Device) -> Self {
        Self {
            batches: Arc::new(batches),
            device: device.clone(),
        }
    }
}

impl<B: Backend> DataLoader<B, LmBatch<B>> for FixedLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<LmBatch<B>> + 'a> {
        Box::new(Fixed {
            loader: self,
            next: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.batches.iter().map(|b| b.batch).sum()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, LmBatch<B>>> {
        Arc::new(Self {
            batches: self.batches.clone(),
            device: device.clone(),
        })
    }

    /// Whole batches `start / batch .. end / batch` (the evaluation set is not split between
    /// workers by Burn's strategies; this serves other callers).
    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, LmBatch<B>>> {
        let per = self.batches.first().map_or(1, |b| b.batch);
        Arc::new(Self {
            batches: Arc::new(self.batches[start / per..end.div_ceil(per)].to_vec()),
            device: self.device.clone(),
        })
    }
}

struct Fixed<'a, B: Backend> {
    loader: &'a FixedLoader<B>,
    next: usize,
}

impl<B: Backend> Iterator for Fixed<'_, B> {
    type Item = LmBatch<B>;

    fn next(&mut self) -> Option<LmBatch<B>> {
        let host = self.loader.batches.get(self.next)?;
        self.next += 1;
        Some(LmBatch::new(host, 1.0, self.next, &self.loader.device))
    }
}

impl<B: Backend> DataLoaderIterator<LmBatch<B>> for Fixed<'_, B> {
    fn progress(&self) -> Progress {
        let per = self.loader.batches.first().map_or(0, |b| b.batch);
        Progress::new(self.next * per, self.loader.num_items())
    }
}
