//! The synthetic image task: where is marker B relative to marker A?
//!
//! An image is a `side × side` grid of patches, each of one colour: two marker patches, A and
//! B, and distractor patches of `distractors` other colours drawn at random. The label is the
//! direction of B from A among its 8 neighbours, or "not adjacent" (class 8). The classes are
//! equally likely, and the answer depends only on the markers' offset, so the same rule holds on
//! every grid size: a model that learned it from relative positions can apply it to a larger
//! image unchanged.
//!
//! Token ids: 0 the CLS token, 1 marker A, 2 marker B, `3..3 + distractors` the distractor
//! colours. Every image is drawn on the host from a seeded [`SplitMix`], so the same seed gives
//! the same images on every machine and backend.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::data::SplitMix;

/// `(row, column)` steps of the 8 neighbours, in class order 0..8.
pub const DIRECTIONS: [(i64, i64); 8] = [
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
];

/// Number of classes: the 8 directions and "not adjacent".
pub const CLASSES: usize = 9;

/// Class of "B is not adjacent to A".
pub const NOT_ADJACENT: usize = 8;

/// The smallest grid side on which every class can be drawn from every cell of A.
pub const MIN_SIDE: usize = 4;

/// Token id of the CLS token.
pub const CLS: i64 = 0;
/// Token id of marker A.
pub const MARKER_A: i64 = 1;
/// Token id of marker B.
pub const MARKER_B: i64 = 2;

/// The task's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MarkerTask {
    /// Colours of the distractor patches.
    pub distractors: usize,
}

/// Images on the host: token ids `[batch, 1 + side²]` (CLS first, then the patches row-major)
/// and a label per image.
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
    /// Tokens per image: the CLS token and the patches.
    pub fn seq_len(&self) -> usize {
        1 + self.side * self.side
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

impl MarkerTask {
    /// Number of token ids: CLS, the two markers, the distractor colours.
    pub fn vocab_size(&self) -> usize {
        3 + self.distractors
    }

    /// `batch` images of `side × side` patches, labels drawn uniformly.
    ///
    /// # Panics
    /// If `side < MIN_SIDE` or there are no distractor colours.
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
        let per_batch = (batch_tokens / (1 + side * side)).max(1);
        let labels: Vec<usize> = (0..count).map(|i| i % CLASSES).collect();
        labels
            .chunks(per_batch)
            .map(|chunk| self.images(&mut rng, chunk, side))
            .collect()
    }

    fn images(&self, rng: &mut SplitMix, labels: &[usize], side: usize) -> ImageBatch {
        assert!(
            side >= MIN_SIDE && self.distractors > 0,
            "MarkerTask: need side >= {MIN_SIDE} and distractors >= 1, got side {side}, {self:?}"
        );
        let seq = 1 + side * side;
        let mut tokens = Vec::with_capacity(labels.len() * seq);
        for &label in labels {
            let (a, b) = markers(rng, label, side);
            tokens.push(CLS);
            for cell in 0..side * side {
                tokens.push(if cell == a {
                    MARKER_A
                } else if cell == b {
                    MARKER_B
                } else {
                    3 + rng.below(self.distractors) as i64
                });
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

/// The cells (row-major indices) of A and B for `label` on a `side × side` grid: A uniform
/// among the cells where the label is possible, B at its offset (or, for "not adjacent",
/// uniform among the cells outside A's 3 × 3 neighbourhood).
fn markers(rng: &mut SplitMix, label: usize, side: usize) -> (usize, usize) {
    let n = side as i64;
    let cell = |r: i64, c: i64| (r * n + c) as usize;
    if label == NOT_ADJACENT {
        let (ar, ac) = (rng.below(side) as i64, rng.below(side) as i64);
        loop {
            let (br, bc) = (rng.below(side) as i64, rng.below(side) as i64);
            if (br - ar).abs().max((bc - ac).abs()) >= 2 {
                return (cell(ar, ac), cell(br, bc));
            }
        }
    }
    let (dr, dc) = DIRECTIONS[label];
    // A's row in max(0, -dr)..n - max(0, dr), so that B stays on the grid; columns alike.
    let pick = |rng: &mut SplitMix, d: i64| {
        let lo = (-d).max(0);
        lo + rng.below((n - d.abs()) as usize) as i64
    };
    let ar = pick(rng, dr);
    let ac = pick(rng, dc);
    (cell(ar, ac), cell(ar + dr, ac + dc))
}

/// The label of an image from its patches (`side²` token ids, row-major): the task's rule,
/// for checking the generator.
pub fn label_of(patches: &[i64], side: usize) -> Option<usize> {
    let find = |id: i64| patches.iter().position(|&t| t == id);
    let (a, b) = (find(MARKER_A)?, find(MARKER_B)?);
    let (ar, ac) = ((a / side) as i64, (a % side) as i64);
    let (br, bc) = ((b / side) as i64, (b % side) as i64);
    let offset = (br - ar, bc - ac);
    Some(
        DIRECTIONS
            .iter()
            .position(|&d| d == offset)
            .unwrap_or(NOT_ADJACENT),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_rule_and_are_balanced() {
        let task = MarkerTask { distractors: 4 };
        for side in [4, 8, 13] {
            let set = task.eval_set(7, 90, side, 300);
            let mut counts = [0; CLASSES];
            for batch in &set {
                let seq = batch.seq_len();
                for (i, &label) in batch.labels.iter().enumerate() {
                    let image = &batch.tokens[i * seq..(i + 1) * seq];
                    assert_eq!(image[0], CLS);
                    assert_eq!(image.iter().filter(|&&t| t == MARKER_A).count(), 1);
                    assert_eq!(image.iter().filter(|&&t| t == MARKER_B).count(), 1);
                    assert!(image.iter().all(|&t| (0..7).contains(&t)));
                    assert_eq!(label_of(&image[1..], side), Some(label as usize));
                    counts[label as usize] += 1;
                }
            }
            assert_eq!(counts, [10; CLASSES]);
        }
    }

    #[test]
    fn the_same_seed_draws_the_same_images() {
        let task = MarkerTask { distractors: 3 };
        let draw = || task.batch(&mut SplitMix::new(5), 16, 8);
        assert_eq!(draw(), draw());
        assert_eq!(task.eval_set(1, 20, 6, 100), task.eval_set(1, 20, 6, 100));
    }
}
