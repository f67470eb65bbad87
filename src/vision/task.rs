//! The synthetic image task: which way do the strokes run?
//!
//! An image is a `side × side` grid of patches, each of one of `colours` colours. Its class is
//! a direction `d` among [`DIRECTIONS`] (horizontal, vertical, diagonal, anti-diagonal): patch
//! `p` repeats the colour of its neighbour `p − d` with probability `keep`, and otherwise (or
//! when `p − d` is off the grid) takes a uniform random colour. So the image is made of short
//! strokes of one colour running along `d`, and every colour is equally likely in every class:
//! the answer is only in which *relative offset* between patches tends to repeat a colour. The
//! rule is local and the same on every grid size, so a model that learned it from relative
//! positions can apply it to a larger image unchanged (the strokes keep their length in
//! patches; a larger grid is a larger field of view, not a finer one).
//!
//! Token ids are the colours `0..colours`. Every image is drawn on the host from a seeded
//! [`SplitMix`], so the same seed gives the same images on every machine and backend.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::data::SplitMix;

/// `(row, column)` steps of the stroke directions, in class order: horizontal, vertical,
/// diagonal, anti-diagonal. Each has `row ≥ 0`, so `p − d` comes before `p` row-major.
pub const DIRECTIONS: [(i64, i64); 4] = [(0, 1), (1, 0), (1, 1), (1, -1)];

/// Names of the classes, in class order.
pub const DIRECTION_NAMES: [&str; 4] = ["horizontal", "vertical", "diagonal", "anti-diagonal"];

/// Number of classes.
pub const CLASSES: usize = DIRECTIONS.len();

/// The smallest grid side scored or trained on.
pub const MIN_SIDE: usize = 4;

/// The task's settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StrokeTask {
    /// Number of colours (token ids), at least 2.
    pub colours: usize,
    /// Probability that a patch repeats the colour of its neighbour against the stroke
    /// direction, in `[0, 1)`.
    pub keep: f64,
}

/// Images on the host: token ids `[batch, side²]` (the patches row-major) and a label per image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageBatch {
    /// Token ids, row-major.
    pub tokens: Vec<i64>,
    /// Class of each image.
    pub labels: Vec<i64>,
    /// Images in the batch.
    pub batch: usize,
    /// Grid side.
    pub side: usize,
}

impl ImageBatch {
    /// Tokens per image: the patches.
    pub fn seq_len(&self) -> usize {
        self.side * self.side
    }

    /// `(tokens [batch, seq], labels [batch])` on `device`.
    pub fn to_tensors<B: Backend>(
        &self,
        device: &B::Device,
    ) -> (Tensor<B, 2, Int>, Tensor<B, 1, Int>) {
        let tokens = TensorData::new(self.tokens.clone(), [self.batch, self.seq_len()]);
        let labels = TensorData::new(self.labels.clone(), [self.batch]);
        (
            Tensor::from_data(tokens, device),
            Tensor::from_data(labels, device),
        )
    }
}

impl StrokeTask {
    /// Number of token ids: the colours.
    pub fn vocab_size(&self) -> usize {
        self.colours
    }

    /// `batch` images of `side × side` patches, labels drawn uniformly.
    ///
    /// # Panics
    /// If `side < MIN_SIDE`, there are fewer than 2 colours or `keep` is not in `[0, 1)`.
    pub fn batch(&self, rng: &mut SplitMix, batch: usize, side: usize) -> ImageBatch {
        let labels: Vec<usize> = (0..batch).map(|_| rng.below(CLASSES)).collect();
        self.images(rng, &labels, side)
    }

    /// A fixed, class-balanced evaluation set: `count` images (label `i % CLASSES`), in
    /// batches of at most `batch_tokens` tokens (at least one image each).
    pub fn eval_set(
        &self,
        seed: u64,
        count: usize,
        side: usize,
        batch_tokens: usize,
    ) -> Vec<ImageBatch> {
        let mut rng = SplitMix::new(seed);
        let per_batch = (batch_tokens / (side * side)).max(1);
        let labels: Vec<usize> = (0..count).map(|i| i % CLASSES).collect();
        labels
            .chunks(per_batch)
            .map(|chunk| self.images(&mut rng, chunk, side))
            .collect()
    }

    fn images(&self, rng: &mut SplitMix, labels: &[usize], side: usize) -> ImageBatch {
        assert!(
            side >= MIN_SIDE && self.colours >= 2 && (0.0..1.0).contains(&self.keep),
            "StrokeTask: need side >= {MIN_SIDE}, colours >= 2 and keep in [0, 1), got side \
             {side}, {self:?}"
        );
        let n = side as i64;
        let mut tokens = Vec::with_capacity(labels.len() * side * side);
        for &label in labels {
            let (dr, dc) = DIRECTIONS[label];
            let start = tokens.len();
            for r in 0..n {
                for c in 0..n {
                    let (pr, pc) = (r - dr, c - dc);
                    let inside = (0..n).contains(&pr) && (0..n).contains(&pc);
                    // Both draws are made for every patch, so the stream of random numbers
                    // does not depend on the class.
                    let repeat = unit(rng) < self.keep;
                    let fresh = rng.below(self.colours) as i64;
                    tokens.push(if inside && repeat {
                        tokens[start + (pr * n + pc) as usize]
                    } else {
                        fresh
                    });
                }
            }
        }
        ImageBatch {
            tokens,
            labels: labels.iter().map(|&l| l as i64).collect(),
            batch: labels.len(),
            side,
        }
    }
}

/// A uniform number in `[0, 1)` (53 bits).
fn unit(rng: &mut SplitMix) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// For each direction, the fraction of patch pairs at that offset with equal colours: the
/// statistic the task's rule is about, for checking the generator.
pub fn repeat_rates(patches: &[i64], side: usize) -> [f64; CLASSES] {
    let n = side as i64;
    DIRECTIONS.map(|(dr, dc)| {
        let (mut same, mut pairs) = (0usize, 0usize);
        for r in 0..n {
            for c in 0..n {
                let (pr, pc) = (r - dr, c - dc);
                if (0..n).contains(&pr) && (0..n).contains(&pc) {
                    pairs += 1;
                    same += usize::from(
                        patches[(r * n + c) as usize] == patches[(pr * n + pc) as usize],
                    );
                }
            }
        }
        same as f64 / pairs.max(1) as f64
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strokes_run_along_the_label_and_classes_are_balanced() {
        let task = StrokeTask {
            colours: 6,
            keep: 0.7,
        };
        for side in [4, 8, 13] {
            let set = task.eval_set(7, 400, side, 300);
            let mut counts = [0; CLASSES];
            let mut rates = [[0.0; CLASSES]; CLASSES];
            for batch in &set {
                let seq = batch.seq_len();
                for (i, &label) in batch.labels.iter().enumerate() {
                    let image = &batch.tokens[i * seq..(i + 1) * seq];
                    assert!(image.iter().all(|&t| (0..6).contains(&t)));
                    let r = repeat_rates(image, side);
                    for (k, rate) in r.iter().enumerate() {
                        rates[label as usize][k] += rate / 100.0;
                    }
                    counts[label as usize] += 1;
                }
            }
            assert_eq!(counts, [100; CLASSES]);
            // Along the label: keep + (1 - keep) / colours = 0.75; elsewhere far less.
            for (label, row) in rates.iter().enumerate() {
                assert!((row[label] - 0.75).abs() < 0.05, "{side}: {label}: {row:?}");
                for (k, &rate) in row.iter().enumerate() {
                    if k != label {
                        assert!(rate < 0.6, "{side}: {label} along {k}: {rate}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_images() {
        let task = StrokeTask {
            colours: 3,
            keep: 0.5,
        };
        let draw = || task.batch(&mut SplitMix::new(5), 16, 8);
        assert_eq!(draw(), draw());
        assert_eq!(task.eval_set(1, 20, 6, 100), task.eval_set(1, 20, 6, 100));
    }
}
