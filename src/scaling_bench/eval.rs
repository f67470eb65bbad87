//! Scoring one model at one context length: next-token loss over every position, by position
//! bucket, and (retrieval) the accuracy of the answer at each depth of the queried key.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use burn_rotary::RopeBackend;

use crate::data::{ByteText, HostBatch, Retrieval};
use crate::model::Transformer;

/// The sequences a model is scored on at one length; the same for every method and seed.
#[derive(Debug, Clone)]
pub enum EvalSet {
    /// Windows of held-out text.
    Text(Vec<HostBatch>),
    /// Retrieval sequences, one set per depth of the queried key: `(depth, batches)`.
    Retrieval(Vec<(f64, Vec<HostBatch>)>),
}

impl EvalSet {
    /// `tokens` tokens of `part` (held-out text) in windows of `len`, batches of about
    /// `batch_tokens` tokens.
    pub fn text(part: &[i64], tokens: usize, batch_tokens: usize, len: usize) -> Self {
        let count = tokens.div_ceil(len).max(1);
        let batch = (batch_tokens / len).max(1);
        Self::Text(ByteText::windows(part, count, batch, len))
    }

    /// `per_depth` sequences of `len` tokens per depth, drawn from `seed`.
    pub fn retrieval(
        task: &Retrieval,
        depths: &[f64],
        per_depth: usize,
        batch_tokens: usize,
        seed: u64,
        len: usize,
    ) -> Self {
        let batch = (batch_tokens / len).clamp(1, per_depth.max(1));
        let sets = depths
            .iter()
            .enumerate()
            .map(|(i, &depth)| {
                let seed = seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rng = crate::data::SplitMix::new(seed);
                let mut left = per_depth;
                let mut batches = Vec::new();
                while left > 0 {
                    let b = batch.min(left);
                    batches.push(task.batch(&mut rng, b, len, Some(depth)));
                    left -= b;
                }
                (depth, batches)
            })
            .collect();
        Self::Retrieval(sets)
    }

    /// Every batch, in scoring order.
    fn batches(&self) -> Vec<(Option<usize>, &HostBatch)> {
        match self {
            Self::Text(batches) => batches.iter().map(|b| (None, b)).collect(),
            Self::Retrieval(sets) => sets
                .iter()
                .enumerate()
                .flat_map(|(i, (_, batches))| batches.iter().map(move |b| (Some(i), b)))
                .collect(),
        }
    }

    /// The length of its sequences.
    pub fn seq_len(&self) -> usize {
        self.batches().first().map_or(0, |(_, b)| b.seq)
    }

    /// Positions scored (the cost of a forward pass over the set, in tokens).
    pub fn tokens(&self) -> usize {
        self.batches().iter().map(|(_, b)| b.batch * b.seq).sum()
    }
}

/// One model's scores at one length.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Mean next-token cross-entropy over every position of every sequence, nats.
    pub loss: f64,
    /// Mean loss per position bucket ([`buckets`]).
    pub bucket_loss: Vec<f64>,
    /// Retrieval accuracy per depth, in the set's depth order (empty for text).
    pub depth_accuracy: Vec<f64>,
    /// Positions scored.
    pub tokens: usize,
}

impl Score {
    /// Mean retrieval accuracy over the depths (`None` for text).
    pub fn accuracy(&self) -> Option<f64> {
        let n = self.depth_accuracy.len();
        (n > 0).then(|| self.depth_accuracy.iter().sum::<f64>() / n as f64)
    }
}

/// The position buckets of a sequence of `len` tokens from a model trained at `train_len`:
/// `[0, L)`, then octaves `[L, 2L)`, `[2L, 4L)`, .. up to `len`.
pub fn buckets(train_len: usize, len: usize) -> Vec<(usize, usize)> {
    let mut out = vec![(0, train_len.min(len))];
    let mut start = train_len;
    while start < len {
        let end = (2 * start).min(len);
        out.push((start, end));
        start = end;
    }
    out
}

/// Scores `model` on `set`, position buckets from `train_len`.
///
/// With `growing_from = Some(l)` every position is scored as a decoder that rescales RoPE for
/// the length it has seen does it (dynamic NTK): the prefix is run at the lengths
/// `l, 2l, 4l, ..`, up to the full length, and each position's loss comes from the shortest
/// prefix that holds it. Otherwise one forward over the whole sequence scores every position.
/// `on_batch(tokens)` is called after each batch.
pub fn score<B: RopeBackend>(
    model: &Transformer<B>,
    set: &EvalSet,
    train_len: usize,
    growing_from: Option<usize>,
    device: &B::Device,
    on_batch: &dyn Fn(usize),
) -> Score {
    let batches = set.batches();
    let len = batches.first().map_or(0, |(_, b)| b.seq);
    let bucket_bounds = buckets(train_len, len);
    let mut bucket_sums = vec![(0.0f64, 0usize); bucket_bounds.len()];
    let depths = match set {
        EvalSet::Retrieval(sets) => sets.len(),
        EvalSet::Text(_) => 0,
    };
    let mut answers = vec![(0usize, 0usize); depths];
    for (depth, batch) in batches {
        let (tokens, targets) = batch.to_tensors::<B>(device);
        let mut start = 0;
        for end in prefix_ends(batch.seq, growing_from) {
            let logits = model.forward(tokens.clone().narrow(1, 0, end));
            let chunk = logits.narrow(1, start, end - start);
            let losses = token_losses(chunk.clone(), targets.clone().narrow(1, start, end - start));
            let width = end - start;
            for (i, &l) in losses.iter().enumerate() {
                let pos = start + i % width;
                let b = bucket_bounds
                    .iter()
                    .position(|&(lo, hi)| (lo..hi).contains(&pos))
                    .expect("buckets cover the sequence");
                bucket_sums[b].0 += f64::from(l);
                bucket_sums[b].1 += 1;
            }
            if let (true, Some(d)) = (end == batch.seq, depth) {
                let predicted = last_argmax(chunk);
                answers[d].0 += predicted
                    .iter()
                    .zip(&batch.answers)
                    .filter(|(p, a)| p == a)
                    .count();
                answers[d].1 += batch.batch;
            }
            start = end;
        }
        on_batch(batch.batch * batch.seq);
    }
    let (sum, count) = bucket_sums
        .iter()
        .fold((0.0, 0), |(s, c), &(bs, bc)| (s + bs, c + bc));
    let mean = |s: f64, c: usize| if c > 0 { s / c as f64 } else { f64::NAN };
    Score {
        loss: mean(sum, count),
        bucket_loss: bucket_sums.iter().map(|&(s, c)| mean(s, c)).collect(),
        depth_accuracy: answers
            .iter()
            .map(|&(right, asked)| mean(right as f64, asked))
            .collect(),
        tokens: count,
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

#[cfg(test)]
mod tests {
    use super::{buckets, prefix_ends};

    #[test]
    fn prefixes_double_from_the_training_length() {
        assert_eq!(prefix_ends(64, Some(64)), [64]);
        assert_eq!(prefix_ends(512, Some(64)), [64, 128, 256, 512]);
        assert_eq!(prefix_ends(300, Some(64)), [64, 128, 256, 300]);
        assert_eq!(prefix_ends(300, None), [300]);
    }

    #[test]
    fn buckets_are_octaves_from_the_training_length() {
        assert_eq!(buckets(32, 32), [(0, 32)]);
        assert_eq!(buckets(32, 128), [(0, 32), (32, 64), (64, 128)]);
        assert_eq!(buckets(32, 100), [(0, 32), (32, 64), (64, 100)]);
    }
}
