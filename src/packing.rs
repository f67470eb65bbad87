//! Packed sequences: several documents in one row of a batch, as varlen attention
//! (flash-attn's `cu_seqlens`, TransformerEngine's THD layout) takes them. Each document is a
//! sequence of its own: its RoPE positions restart at 0 and its tokens attend only to earlier
//! tokens of the same document (a block-diagonal causal mask), so a packed row computes what
//! its documents compute one by one, without the padding a batch of unequal lengths needs.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor, TensorData};
use burn_rotary::Positions;

/// The documents of each row of a batch: their RoPE positions and attention mask.
///
/// For a length-dependent scaling (dynamic NTK, LongRoPE) the sequence length is the longest
/// document's, as in transformers (`max(position_ids) + 1`): a shorter document of the row is
/// then rotated with the frequencies of that length, not of its own.
#[derive(Debug, Clone)]
pub struct Packing<B: Backend> {
    positions: Positions<B>,
    /// `true` where the query's and the key's documents differ. Shape `[batch, 1, seq, seq]`.
    mask: Tensor<B, 4, Bool>,
}

impl<B: Backend> Packing<B> {
    /// Rows of documents: `lengths[b]` are the document lengths of row `b`, in order (from
    /// flash-attn's cumulative `cu_seqlens`, row `b`'s lengths are its successive differences).
    ///
    /// ```
    /// use burn::backend::NdArray;
    /// use burn_rotary_suite::packing::Packing;
    ///
    /// // Two rows of 6 tokens: documents of 3, 1 and 2 tokens (positions 0 1 2 0 0 1), and one
    /// // document of 6.
    /// let packing = Packing::<NdArray>::new(&[vec![3, 1, 2], vec![6]], &Default::default());
    /// assert_eq!(packing.dims(), [2, 6]);
    /// ```
    ///
    /// # Panics
    /// If there are no rows, or the rows hold different numbers of tokens.
    pub fn new(lengths: &[Vec<usize>], device: &B::Device) -> Self {
        assert!(!lengths.is_empty(), "Packing::new: no rows");
        let positions = Positions::packed(lengths, device);
        let seq: usize = lengths[0].iter().sum();
        let mut masked = Vec::with_capacity(lengths.len() * seq * seq);
        for row in lengths {
            let document: Vec<usize> = row
                .iter()
                .enumerate()
                .flat_map(|(d, &len)| std::iter::repeat_n(d, len))
                .collect();
            for &query in &document {
                masked.extend(document.iter().map(|&key| key != query));
            }
        }
        let mask = Tensor::from_data(
            TensorData::new(masked, [lengths.len(), 1, seq, seq]),
            device,
        );
        Self { positions, mask }
    }

    /// `[batch, seq]`: the rows and the tokens in each.
    pub fn dims(&self) -> [usize; 2] {
        let [batch, _, seq, _] = self.mask.dims();
        [batch, seq]
    }

    /// RoPE positions: each document's tokens at `0..len`.
    pub fn positions(&self) -> &Positions<B> {
        &self.positions
    }

    /// The mask to give attention alongside its causal mask: `true` where a query and a key
    /// are in different documents.
    ///
    /// # Shapes
    /// - output: `[batch, heads, seq, seq]`
    pub fn mask(&self, heads: usize) -> Tensor<B, 4, Bool> {
        let [batch, seq] = self.dims();
        self.mask.clone().expand([batch, heads, seq, seq])
    }

    /// Panics unless the packing is laid out like `tokens`' `[batch, seq]`, naming `op`.
    pub(crate) fn check(&self, op: &str, tokens: [usize; 2]) {
        assert_eq!(
            self.dims(),
            tokens,
            "{op}: the packing's [batch, seq] vs the tokens'"
        );
    }
}
