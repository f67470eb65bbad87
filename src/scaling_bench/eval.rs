//! Scoring a model at one context length: loss over the whole sequence and retrieval accuracy
//! of a key planted at chosen depths; and the cost of the RoPE op itself.

use std::time::Instant;

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};
use burn_rotary::{RopeBackend, RopeConfig};

use crate::data::{HostBatch, Task};
use crate::model::{Transformer, TransformerConfig};

/// The sequences a model is scored on at one length: one set per retrieval depth (the queried
/// key at that fraction of the context), or one set of text windows (`depth` `None`).
#[derive(Debug, Clone)]
pub struct EvalSets {
    /// `(depth, batches)`.
    pub sets: Vec<(Option<f64>, Vec<HostBatch>)>,
}

impl EvalSets {
    /// `batches` batches of `batch` sequences of `len` tokens per depth (or, for text, in all),
    /// drawn from `seed`: the same sequences for every method.
    pub fn new(
        task: &Task,
        depths: &[f64],
        seed: u64,
        batches: usize,
        batch: usize,
        len: usize,
    ) -> Self {
        let sets = match task {
            Task::Retrieval(r) => depths
                .iter()
                .enumerate()
                .map(|(i, &d)| {
                    let seed = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    (Some(d), r.batches(seed, batches, batch, len, Some(d)))
                })
                .collect(),
            Task::Text(_) => vec![(
                None,
                task.batches(seed, batches * depths.len().max(1), batch, len),
            )],
        };
        Self { sets }
    }
}

/// Quality of a model at one length.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Mean next-token cross-entropy over every position of every sequence, nats.
    pub loss: f64,
    /// Retrieval accuracy per depth, in the order of [`EvalSets::sets`] (empty for text).
    pub depth_accuracy: Vec<f64>,
}

impl Score {
    /// Mean retrieval accuracy over the depths (`None` for text).
    pub fn accuracy(&self) -> Option<f64> {
        let n = self.depth_accuracy.len();
        (n > 0).then(|| self.depth_accuracy.iter().sum::<f64>() / n as f64)
    }
}

/// Scores `model` on `sets`.
///
/// With `growing_from = Some(l)` every position is scored as a decoder that rescales RoPE for
/// the length it has seen does it (dynamic NTK): the prefix is run at the lengths
/// `l, 2l, 4l, ..`, up to the full length, and each position's loss comes from the shortest
/// prefix that holds it. Otherwise one forward over the whole sequence scores every position.
pub fn score<B: RopeBackend>(
    model: &Transformer<B>,
    sets: &EvalSets,
    growing_from: Option<usize>,
    device: &B::Device,
) -> Score {
    let (mut loss_sum, mut count) = (0.0, 0usize);
    let mut depth_accuracy = Vec::new();
    for (depth, batches) in &sets.sets {
        let (mut correct, mut asked) = (0, 0);
        for batch in batches {
            let (tokens, targets) = batch.to_tensors::<B>(device);
            let mut start = 0;
            for end in prefix_ends(batch.seq, growing_from) {
                let logits = model.forward(tokens.clone().narrow(1, 0, end));
                let chunk = logits.narrow(1, start, end - start);
                let losses =
                    token_losses(chunk.clone(), targets.clone().narrow(1, start, end - start));
                loss_sum += losses.iter().map(|&l| l as f64).sum::<f64>();
                count += losses.len();
                if end == batch.seq && depth.is_some() {
                    let predicted = last_argmax(chunk);
                    correct += predicted
                        .iter()
                        .zip(&batch.answers)
                        .filter(|(p, a)| p == a)
                        .count();
                    asked += batch.batch;
                }
                start = end;
            }
        }
        if depth.is_some() {
            depth_accuracy.push(correct as f64 / asked.max(1) as f64);
        }
    }
    Score {
        loss: loss_sum / count.max(1) as f64,
        depth_accuracy,
    }
}

/// The prefix lengths that score a sequence of `len` tokens (see [`score`]).
fn prefix_ends(len: usize, growing_from: Option<usize>) -> Vec<usize> {
    let mut ends = Vec::new();
    if let Some(first) = growing_from.filter(|&l| l > 0) {
        let mut end = first;
        while end < len {
            ends.push(end);
            end *= 2;
        }
    }
    ends.push(len);
    ends
}

/// Cross-entropy of every position, row-major `[batch, seq]`.
fn token_losses<B: Backend>(logits: Tensor<B, 3>, targets: Tensor<B, 2, Int>) -> Vec<f32> {
    let log_p = log_softmax(logits, 2);
    let picked = log_p.gather(2, targets.unsqueeze_dim::<3>(2));
    picked
        .neg()
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 losses")
}

/// The most likely token at the last position of each sequence.
fn last_argmax<B: Backend>(logits: Tensor<B, 3>) -> Vec<i64> {
    let [b, s, v] = logits.dims();
    logits
        .narrow(1, s - 1, 1)
        .reshape([b, v])
        .argmax(1)
        .into_data()
        .convert::<i64>()
        .to_vec()
        .expect("i64 argmax")
}

/// What a method's RoPE costs at one length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    /// Building the module (frequencies and angle tables), median microseconds.
    pub init_us: f64,
    /// One forward of q and k (the model's head counts, `batch` sequences of `len`
    /// tokens), median milliseconds.
    pub forward_ms: f64,
}

/// Times `rope`'s construction and its q+k forward at `len` positions, median of `reps`.
pub fn rope_cost<B: RopeBackend>(
    rope: &RopeConfig,
    model: &TransformerConfig,
    batch: usize,
    len: usize,
    reps: usize,
    device: &B::Device,
) -> Cost {
    let reps = reps.max(1);
    let sync = || B::sync(device).expect("device sync");
    let init_us = median(
        (0..reps)
            .map(|_| {
                let start = Instant::now();
                let built = rope.init::<B>(device);
                sync();
                drop(built);
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect(),
    );
    let module = rope.init::<B>(device);
    let shape = |heads| [batch, heads, len, model.head_dim()];
    let normal = Distribution::Normal(0.0, 1.0);
    let q = Tensor::<B, 4>::random(shape(model.n_heads), normal, device);
    let k = Tensor::<B, 4>::random(shape(model.kv_heads()), normal, device);
    sync();
    let mut times = Vec::with_capacity(reps);
    for i in 0..=reps {
        let start = Instant::now();
        let out = module.forward_qk(q.clone(), k.clone(), 0);
        sync();
        drop(out);
        if i > 0 {
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Cost {
        init_us,
        forward_ms: median(times),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::prefix_ends;

    #[test]
    fn prefixes_double_from_the_training_length() {
        assert_eq!(prefix_ends(64, Some(64)), [64]);
        assert_eq!(prefix_ends(512, Some(64)), [64, 128, 256, 512]);
        assert_eq!(prefix_ends(300, Some(64)), [64, 128, 256, 300]);
        assert_eq!(prefix_ends(300, None), [300]);
    }
}
