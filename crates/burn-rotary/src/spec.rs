//! What a backend is given for one RoPE application besides q, k and the table: the
//! [`RopeSpec`] (from the core crate) and the positions as primitives; and the checks every
//! path makes of its inputs.

use burn::tensor::backend::Backend;
use burn::tensor::ops::IntTensor;
use burn::tensor::DType;

pub use burn_rotary_core::{AxisOrder, RopeSpec};

/// Panics unless a table of this dtype and shape serves `spec`: `f32`, and the shape of
/// [`RopeSpec::check_table_shape`].
pub(crate) fn check_table(spec: &RopeSpec, op: &str, dtype: DType, shape: &[usize]) {
    assert!(
        dtype == DType::F32,
        "{op}: the angle table must be f32, got {dtype:?}"
    );
    spec.check_table_shape(op, shape);
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
