//! The backend extension trait through which [`Rope`](crate::Rope) runs, and what it is given.
//!
//! [`RopeBackend::rope`] has a default body made of plain tensor ops
//! ([`reference::rope`](crate::reference::rope)), so any Burn backend gets RoPE with one line:
//!
//! ```ignore
//! impl burn_rotary::RopeBackend for MyBackend {}
//! ```
//!
//! Backends with a faster path override it: NdArray runs a direct CPU loop, and `Autodiff<B>`
//! registers the transpose rotation as its backward (so it inherits `B`'s fast path both ways).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use crate::reference;
use crate::spec::{PositionsPrimitive, RopeSpec};

/// Backends that can apply RoPE.
///
/// `table` is the `[rows, 2, rotary_dim / 2]` `f32` angle table of [`crate::table`]; a
/// position `p` uses rows `p % FINE` and `FINE + p / FINE` (with [`PositionsPrimitive::Axes`],
/// pair `i` takes the position on its own axis). Implementations return a new tensor
/// of the input's shape, axis order and dtype, contiguous, and hold two promises whatever the
/// inputs: no read outside the table (a position outside `0..spec.max_positions` makes its row
/// NaN, the rest of the batch is unaffected), and a panic naming the problem for a table that
/// fails [`RopeSpec::check_table_shape`] (or is not `f32`) or for q and k of different dtypes.
pub trait RopeBackend: Backend {
    /// Rotates `x` (`[batch, heads, seq, head_dim]` or `[batch, seq, heads, head_dim]`).
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        reference::rope::<Self>(x, table, positions, spec)
    }

    /// Rotates q and k, which share batch, sequence, positions and head_dim but may differ in
    /// head count (GQA/MQA). Fused backends do both in one launch.
    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let q = Self::rope(q, table.clone(), positions.clone(), spec);
        (q, Self::rope(k, table, positions, spec))
    }
}
