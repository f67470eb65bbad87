//! The backend extension through which [`Rope`](crate::Rope) runs its fast paths.
//!
//! [`RopeOps`] is a Burn `#[backend_extension]`: the macro implements it for Burn's `Dispatch`
//! backend (routing each call to the backend that owns the tensors) and, with a CubeCL runtime,
//! for `Fusion<CubeBackend>` (one opaque custom operation on the fusion stream). This crate
//! implements it by hand for `CubeBackend` (the fused kernel, [`crate::cube`]), for `Flex` (a
//! direct CPU loop, [`crate::flex`]) and for `Autodiff<B>` (the transpose rotation as backward,
//! [`crate::autodiff`]). Any other backend would reach the macro's `unimplemented!`, so the
//! crate asks [`has_fast_path`] first and sends everything else to
//! [`reference::rope`](crate::reference::rope).

use burn::backend::{
    Backend, Dispatch, DispatchTensorKind, ExtensionType, backend_extension,
    tensor::{FloatTensor, IntTensor},
};
use burn::tensor::{DType, Tensor};

use crate::spec::{PositionTensors, RopeSpec, check_same_dtype, check_table};

/// The position of every row, as a backend sees it (the primitives of
/// [`PositionTensors`]).
#[derive(ExtensionType, Debug)]
#[extension_type(fusion: cfg(feature = "cube"))]
pub enum PositionsPrimitive<B: Backend> {
    /// Row `s` of every sequence is at `offset + s` (a KV-cache offset).
    Offset(usize),
    /// Row `s` of sequence `b` is at `offsets[b] + s`; an int tensor `[batch]`.
    Offsets(IntTensor<B>),
    /// Explicit position ids, an int tensor `[batch, seq]` (or `[1, seq]`, shared by the batch).
    Ids(IntTensor<B>),
    /// A coordinate per axis: pair `i` of row `(b, s)` is at `ids[pair_axes[i], b, s]`.
    Axes {
        /// Int tensor `[axes, batch, seq]` (or `[axes, 1, seq]`, shared by the batch).
        ids: IntTensor<B>,
        /// Int tensor `[rotary_dim / 2]`, same dtype: the axis of each frequency pair.
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

/// Backends with a fast RoPE.
///
/// `table` is the `[rows, 2, rotary_dim / 2]` `f32` angle table of [`crate::table`]; a
/// position `p` uses rows `p % FINE` and `FINE + p / FINE` (with [`PositionsPrimitive::Axes`],
/// pair `i` takes the position on its own axis). Implementations return a new tensor of the
/// input's shape, axis order and dtype, and hold two promises whatever the inputs: no read
/// outside the table (a position outside `0..spec.max_positions` makes its row NaN, the rest is
/// unaffected), and a panic naming the problem for a table that is not `f32` or fails
/// [`RopeSpec::check_table_shape`], or for q and k of different dtypes.
#[backend_extension(
    Cube: cfg(feature = "cube"),
    Flex: cfg(feature = "flex"),
    Autodiff,
    Fusion: cfg(feature = "cube")
)]
pub trait RopeOps: Backend {
    /// Rotates `x` (`[batch, heads, seq, head_dim]` or `[batch, seq, heads, head_dim]`).
    #[fusion(dtype = x, shape = x)]
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        #[extension_type] positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self>;

    /// Rotates q and k, which share batch, sequence, positions and head_dim but may differ in
    /// head count (GQA/MQA), in one launch where the backend can.
    #[fusion(meta = |q, k, _table, _positions, _spec| (q.clone(), k.clone()))]
    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        #[extension_type] positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether x's device (through autodiff) and dtype have a fast path compiled in.
pub(crate) fn has_fast_path(x: &Tensor<4>) -> bool {
    let dispatch = x.clone().into_dispatch();
    let mut kind = &dispatch.kind;
    while let DispatchTensorKind::Autodiff(inner) = kind {
        kind = inner;
    }
    #[allow(unreachable_patterns)]
    let compiled_in = match kind {
        #[cfg(feature = "cube")]
        DispatchTensorKind::Cube(_) => true,
        #[cfg(feature = "flex")]
        DispatchTensorKind::Flex(_) => true,
        _ => false,
    };
    // Both take every float dtype Burn stores natively (not flex32, not quantized).
    let dtype = x.dtype();
    compiled_in && matches!(dtype, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
}

/// Panics unless `dims` (in `spec.axes` order) can be rotated by `spec`.
pub(crate) fn check_input(op: &str, what: &str, dims: [usize; 4], spec: &RopeSpec) {
    let head_dim = spec.axes.split(dims).3;
    assert!(
        spec.rotary_dim.is_multiple_of(2) && spec.rotary_dim <= head_dim,
        "{op}: {what} of shape {dims:?} ({:?}) has head_dim {head_dim}, which cannot hold \
         rotary_dim {} (even, at most head_dim)",
        spec.axes,
        spec.rotary_dim
    );
}

/// Panics unless q and k can share one launch: same dtype, batch, seq and head_dim.
pub(crate) fn check_pair(
    op: &str,
    q: ([usize; 4], DType),
    k: ([usize; 4], DType),
    spec: &RopeSpec,
) {
    check_same_dtype(op, q.1, k.1);
    check_input(op, "q", q.0, spec);
    check_input(op, "k", k.0, spec);
    let (qb, _, qs, qd) = spec.axes.split(q.0);
    let (kb, _, ks, kd) = spec.axes.split(k.0);
    assert!(
        (qb, qs, qd) == (kb, ks, kd),
        "{op}: q {:?} and k {:?} ({:?}) must share batch, seq and head_dim",
        q.0,
        k.0,
        spec.axes
    );
}

fn check_table_tensor(op: &str, table: &Tensor<3>, spec: &RopeSpec) {
    check_table(spec, op, table.dtype(), &table.dims());
}

/// Panics unless the position tensors fit x (`dims`): checked here, at the call, because under
/// Fusion the backend runs later, on the stream.
fn check_positions(op: &str, positions: &PositionTensors, dims: [usize; 4], spec: &RopeSpec) {
    let (batch, _, seq, _) = spec.axes.split(dims);
    let half = spec.rotary_dim / 2;
    // `batch` rows, or 1 shared by the batch.
    let rows = |r: usize| r == batch || r == 1;
    let (what, ok, shape) = match positions {
        PositionTensors::Offset(_) => return,
        PositionTensors::Offsets(t) => (
            "offsets [batch]",
            t.dims() == [batch],
            format!("{:?}", t.dims()),
        ),
        PositionTensors::Ids(t) => {
            let [r, s] = t.dims();
            (
                "ids [batch | 1, seq]",
                rows(r) && s == seq,
                format!("{:?}", [r, s]),
            )
        }
        PositionTensors::Axes { ids, pair_axes } => {
            let [_, r, s] = ids.dims();
            let pairs_ok = pair_axes.dims() == [half] && pair_axes.dtype() == ids.dtype();
            let what = "coordinates [axes, batch | 1, seq] with pair axes [rotary_dim / 2] \
                        of the same dtype";
            let shape = format!(
                "{:?} and {:?} {:?}",
                ids.dims(),
                pair_axes.dims(),
                pair_axes.dtype()
            );
            (what, rows(r) && s == seq && pairs_ok, shape)
        }
    };
    assert!(
        ok,
        "{op}: expected {what} for x of shape {dims:?} ({:?}, rotary_dim {}), got {shape}",
        spec.axes, spec.rotary_dim
    );
}

/// The primitives of `positions`, without autodiff (they are constants).
fn positions_primitive(positions: PositionTensors) -> PositionsPrimitive<Dispatch> {
    match positions {
        PositionTensors::Offset(offset) => PositionsPrimitive::Offset(offset),
        PositionTensors::Offsets(t) => {
            PositionsPrimitive::Offsets(t.without_autodiff().into_dispatch())
        }
        PositionTensors::Ids(t) => PositionsPrimitive::Ids(t.without_autodiff().into_dispatch()),
        PositionTensors::Axes { ids, pair_axes } => PositionsPrimitive::Axes {
            ids: ids.without_autodiff().into_dispatch(),
            pair_axes: pair_axes.without_autodiff().into_dispatch(),
        },
    }
}

/// Rotates `x` on its backend's fast path. Call only when [`has_fast_path`]`(&x)`.
pub(crate) fn rope(
    x: Tensor<4>,
    table: Tensor<3>,
    positions: PositionTensors,
    spec: RopeSpec,
) -> Tensor<4> {
    let op = "rope";
    check_table_tensor(op, &table, &spec);
    check_input(op, "x", x.dims(), &spec);
    check_positions(op, &positions, x.dims(), &spec);
    // The table is a constant: without autodiff it can never clash with x's checkpointing.
    let table = table.without_autodiff().into_dispatch();
    let out = <Dispatch as RopeOps>::rope(
        x.into_dispatch(),
        table,
        positions_primitive(positions),
        spec,
    );
    Tensor::from_dispatch(out)
}

/// Rotates q and k on their backend's fast path (one launch on CubeCL). Call only when
/// [`has_fast_path`]`(&q)`.
pub(crate) fn rope_qk(
    q: Tensor<4>,
    k: Tensor<4>,
    table: Tensor<3>,
    positions: PositionTensors,
    spec: RopeSpec,
) -> (Tensor<4>, Tensor<4>) {
    let op = "rope_qk";
    check_table_tensor(op, &table, &spec);
    check_pair(op, (q.dims(), q.dtype()), (k.dims(), k.dtype()), &spec);
    check_positions(op, &positions, q.dims(), &spec);
    let table = table.without_autodiff().into_dispatch();
    let (q, k) = <Dispatch as RopeOps>::rope_qk(
        q.into_dispatch(),
        k.into_dispatch(),
        table,
        positions_primitive(positions),
        spec,
    );
    (Tensor::from_dispatch(q), Tensor::from_dispatch(k))
}
