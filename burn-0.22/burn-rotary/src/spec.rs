//! What a path is given for one RoPE application besides x and the table: the [`RopeSpec`]
//! (from the core crate) and the positions as tensors; and the checks every path makes.

use burn::tensor::{DType, Int, Tensor};

pub use burn_rotary_core::{AxisOrder, RopeSpec};

/// The position of every row, as the module hands it to a path (the tensors are on the
/// device of x, without autodiff).
#[derive(Debug, Clone)]
// Built once per call and moved into the path: the size of `Axes` costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum PositionTensors {
    /// Row `s` of every sequence is at `offset + s` (a KV-cache offset).
    Offset(usize),
    /// Row `s` of sequence `b` is at `offsets[b] + s`; `[batch]`.
    Offsets(Tensor<1, Int>),
    /// Explicit position ids, `[batch, seq]` (or `[1, seq]`, shared by the batch).
    Ids(Tensor<2, Int>),
    /// A coordinate per axis (M-RoPE, image / video RoPE): pair `i` of row `(b, s)` is at
    /// `ids[pair_axes[i], b, s]`.
    Axes {
        /// `[axes, batch, seq]` (or `[axes, 1, seq]`, shared by the batch). A row with a
        /// coordinate outside `0..max_positions` on any axis comes out NaN.
        ids: Tensor<3, Int>,
        /// `[rotary_dim / 2]`: the axis of each frequency pair. A pair whose axis is not in
        /// `0..axes` comes out NaN.
        pair_axes: Tensor<1, Int>,
    },
}

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
