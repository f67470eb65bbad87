//! What a backend is given for one RoPE application, besides the tensors: the axis order,
//! the [`RopeSpec`] and the positions as primitives.

use burn::tensor::backend::Backend;
use burn::tensor::ops::IntTensor;
use burn::tensor::DType;

use crate::config::RopeLayout;
/// The order of the axes of q and k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum AxisOrder {
    /// `[batch, heads, seq, head_dim]`: what attention kernels take.
    #[default]
    Bhsd,
    /// `[batch, seq, heads, head_dim]`: what a fused QKV projection produces.
    Bshd,
}

impl AxisOrder {
    /// `(batch, heads, seq, head_dim)` of a 4-D shape in this order.
    pub fn split(self, dims: [usize; 4]) -> (usize, usize, usize, usize) {
        match self {
            Self::Bhsd => (dims[0], dims[1], dims[2], dims[3]),
            Self::Bshd => (dims[0], dims[2], dims[1], dims[3]),
        }
    }

    /// The 4-D shape of `(batch, heads, seq, head_dim)` in this order (the inverse of
    /// [`split`](Self::split)).
    pub fn dims(self, batch: usize, heads: usize, seq: usize, head_dim: usize) -> [usize; 4] {
        match self {
            Self::Bhsd => [batch, heads, seq, head_dim],
            Self::Bshd => [batch, seq, heads, head_dim],
        }
    }
}

/// The non-tensor parameters of one RoPE application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RopeSpec {
    /// Which elements are paired.
    pub layout: RopeLayout,
    /// How many leading dims of each head are rotated; the rest are copied.
    pub rotary_dim: usize,
    /// The axis order of the input (the output has the same).
    pub axes: AxisOrder,
    /// Rotate by `-angle` (the transpose rotation: the backward of RoPE).
    pub inverse: bool,
    /// Exclusive bound of valid positions. A row whose position is negative or at least this
    /// comes out as NaN (every element of it), never as a read outside the table.
    pub max_positions: usize,
}

impl RopeSpec {
    /// The same spec, rotating the other way.
    pub fn inverted(self) -> Self {
        Self {
            inverse: !self.inverse,
            ..self
        }
    }

    /// Panics unless a table of this dtype and shape serves this spec: `f32`, shaped
    /// `[rows, 2, rotary_dim / 2]` with the rows of [`table_rows`](crate::table::table_rows)
    /// `(max_positions)` at least, so that no valid position reads outside it.
    pub fn check_table(&self, op: &str, dtype: DType, shape: &[usize]) {
        assert!(
            dtype == DType::F32,
            "{op}: the angle table must be f32, got {dtype:?}"
        );
        let rows = crate::table::table_rows(self.max_positions);
        let half = self.rotary_dim / 2;
        assert!(
            shape.len() == 3 && shape[0] >= rows && shape[1] == 2 && shape[2] == half,
            "{op}: expected an angle table of shape [>= {rows}, 2, {half}] (max_positions {}, \
             rotary_dim {}), got {shape:?}",
            self.max_positions,
            self.rotary_dim
        );
    }
}

/// Panics unless q and k share their dtype (one kernel reads both).
pub(crate) fn check_same_dtype(op: &str, q: DType, k: DType) {
    assert!(
        q == k,
        "{op}: q and k must have the same dtype, got q {q:?} and k {k:?}"
    );
}

/// The position of every row, as a backend sees it.
#[derive(Debug)]
pub enum PositionsPrimitive<B: Backend> {
    /// Row `s` of every sequence is at `offset + s` (a KV-cache offset).
    Offset(usize),
    /// Row `s` of sequence `b` is at `offsets[b] + s`; an int tensor `[batch]`.
    Offsets(IntTensor<B>),
    /// Explicit position ids, an int tensor `[batch, seq]` (or `[1, seq]`, shared by the batch).
    Ids(IntTensor<B>),
    /// A coordinate per axis (M-RoPE, image / video RoPE): pair `i` of row `(b, s)` is at
    /// `ids[pair_axes[i], b, s]`.
    Axes {
        /// Int tensor `[axes, batch, seq]` (or `[axes, 1, seq]`, shared by the batch). A row
        /// with a coordinate outside `0..max_positions` on any axis comes out NaN.
        ids: IntTensor<B>,
        /// Int tensor `[rotary_dim / 2]`: the axis of each frequency pair. A pair whose axis is
        /// not in `0..axes` comes out NaN.
        pair_axes: IntTensor<B>,
    },
}

impl<B: Backend> Clone for PositionsPrimitive<B> {
    fn clone(&self) -> Self {
        match self {
            Self::Offset(o) => Self::Offset(*o),
            Self::Offsets(t) => Self::Offsets(t.clone()),
            Self::Ids(t) => Self::Ids(t.clone()),
            Self::Axes { ids, pair_axes } => Self::Axes {
                ids: ids.clone(),
                pair_axes: pair_axes.clone(),
            },
        }
    }
}
