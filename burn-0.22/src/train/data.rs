//! The copy task: `n` random tokens, a separator, the same `n` tokens again. The first half is
//! unpredictable (its loss stays near `ln(vocab - 2)`); the copy is predictable only by looking
//! `n + 1` positions back, which the rotations make easy to find.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::InMemDataset;
use burn::tensor::{Device, Int, Tensor, TensorData};

/// The separator token; tokens `2..vocab` are content.
pub const SEPARATOR: i64 = 1;

/// One sequence of the task.
pub type CopyItem = Vec<i64>;

/// `count` sequences of `2 * half + 1` tokens from a seeded generator (the same seed, the same
/// data).
pub fn copy_dataset(count: usize, half: usize, vocab: usize, seed: u64) -> InMemDataset<CopyItem> {
    assert!(
        vocab > 2,
        "copy_dataset: vocab {vocab} leaves no content tokens"
    );
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let items = (0..count)
        .map(|_| {
            let content: Vec<i64> = (0..half)
                .map(|_| 2 + (next() % (vocab as u64 - 2)) as i64)
                .collect();
            let mut item = content.clone();
            item.push(SEPARATOR);
            item.extend(content);
            item
        })
        .collect();
    InMemDataset::new(items)
}

/// Inputs and next-token targets, `[batch, seq]` each.
#[derive(Clone, Debug)]
pub struct CopyBatch {
    /// Tokens `0..len - 1` of each sequence.
    pub inputs: Tensor<2, Int>,
    /// Tokens `1..len` of each sequence.
    pub targets: Tensor<2, Int>,
}

/// Stacks sequences into a [`CopyBatch`].
#[derive(Clone, Debug, Default)]
pub struct CopyBatcher;

impl Batcher<CopyItem, CopyBatch> for CopyBatcher {
    fn batch(&self, items: Vec<CopyItem>, device: &Device) -> CopyBatch {
        let seq = items.first().map_or(0, |item| item.len().saturating_sub(1));
        let rows = |range: fn(&CopyItem) -> &[i64]| {
            let values: Vec<i64> = items.iter().flat_map(|item| range(item).to_vec()).collect();
            Tensor::from_data(TensorData::new(values, [items.len(), seq]), device)
        };
        CopyBatch {
            inputs: rows(|item| &item[..item.len() - 1]),
            targets: rows(|item| &item[1..]),
        }
    }
}
