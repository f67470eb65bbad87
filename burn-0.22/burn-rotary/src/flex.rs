//! Flex's RoPE: one pass over the storage with the rotation of each position computed once and
//! shared by all its heads, split across threads. Port of the 0.21 line's NdArray loop.
//!
//! Same math as [`crate::reference`], its test oracle: `f32` arithmetic for `f32`, `f16` and
//! `bf16` storage, `f64` for `f64`. A strided input is first made contiguous; a uniquely owned
//! one is rotated in place. A row whose position is outside `0..max_positions` comes out NaN;
//! nothing is ever read outside the table (every access is a checked slice index).

use std::mem::MaybeUninit;

use burn::backend::TensorMetadata;
use burn::backend::flex::{Flex, FlexTensor};
use burn::tensor::{DType, TensorData, bf16, f16};
use rayon::prelude::*;

use crate::ops::{PositionsPrimitive, RopeOps, check_input, check_pair};
use crate::spec::{AxisOrder, RopeSpec, check_table};
use crate::table::rows_of;
use burn_rotary_core::RopeLayout;

/// Elements per parallel task.
const TASK_ELEMS: usize = 1 << 15;

impl RopeOps for Flex {
    fn rope(
        x: FlexTensor,
        table: FlexTensor,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FlexTensor {
        let op = "rope (Flex)";
        let dims = dims4(op, &x);
        check_input(op, "x", dims, &spec);
        HostAngles::new(op, dims, &table, positions, spec).rotate(op, x, spec)
    }

    fn rope_qk(
        q: FlexTensor,
        k: FlexTensor,
        table: FlexTensor,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FlexTensor, FlexTensor) {
        let op = "rope_qk (Flex)";
        let (q_dims, k_dims) = (dims4(op, &q), dims4(op, &k));
        check_pair(op, (q_dims, q.dtype()), (k_dims, k.dtype()), &spec);
        // The angles depend on the positions only: computed once for both.
        let angles = HostAngles::new(op, q_dims, &table, positions, spec);
        (angles.rotate(op, q, spec), angles.rotate(op, k, spec))
    }
}

fn dims4(op: &str, x: &FlexTensor) -> [usize; 4] {
    let shape = x.shape();
    shape
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{op}: expected a 4-D input, got shape {shape:?}"))
}

/// `a cos t` and `a sin t` (`-t` when inverse) of every position row, `[ids, half]` each.
struct HostAngles {
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Whether each position id is in range (else its whole row is NaN).
    valid: Vec<bool>,
    /// Position rows: 1 (shared by the batch) or `batch`.
    rows: usize,
}

impl HostAngles {
    fn new(
        op: &str,
        dims: [usize; 4],
        table: &FlexTensor,
        positions: PositionsPrimitive<Flex>,
        spec: RopeSpec,
    ) -> Self {
        check_table(&spec, op, table.dtype(), table.shape().as_slice());
        let (batch, _, seq, _) = spec.axes.split(dims);
        let ids = HostIds::new(op, positions, batch, seq, spec);
        let table = table.to_contiguous();
        let table = table.as_slice::<f32>().expect("a contiguous f32 table");
        let (cos, sin) = angles(table, &ids, spec);
        let valid = ids
            .ids
            .chunks_exact(ids.axes.max(1))
            .map(|coords| coords.iter().all(Option::is_some))
            .collect();
        Self {
            cos,
            sin,
            valid,
            rows: ids.rows,
        }
    }

    /// Rotates `x` into a new tensor (in place when `x` is uniquely owned).
    fn rotate(&self, op: &str, x: FlexTensor, spec: RopeSpec) -> FlexTensor {
        let dims = dims4(op, &x);
        match x.dtype() {
            DType::F32 => rotate::<f32>(x, (&self.cos, &self.sin), self, spec, dims),
            DType::F16 => rotate::<f16>(x, (&self.cos, &self.sin), self, spec, dims),
            DType::BF16 => rotate::<bf16>(x, (&self.cos, &self.sin), self, spec, dims),
            DType::F64 => {
                let widen = |v: &[f32]| v.iter().map(|&c| f64::from(c)).collect::<Vec<_>>();
                let (cos, sin) = (widen(&self.cos), widen(&self.sin));
                rotate::<f64>(x, (&cos, &sin), self, spec, dims)
            }
            other => panic!("{op}: Flex has no fast path for dtype {other:?} (shape {dims:?})"),
        }
    }
}

/// Position ids on the host: `rows` position rows (1 or `batch`) of `seq` tokens, each with a
/// coordinate per axis (`[rows, seq, axes]`); `None` for a coordinate out of range.
struct HostIds {
    ids: Vec<Option<usize>>,
    rows: usize,
    axes: usize,
    /// The axis of each pair (`None`: out of range); `None` with one axis.
    pair_axes: Option<Vec<Option<usize>>>,
}

impl HostIds {
    fn new(
        op: &str,
        positions: PositionsPrimitive<Flex>,
        batch: usize,
        seq: usize,
        spec: RopeSpec,
    ) -> Self {
        let max = spec.max_positions;
        let in_range = |p: i64| usize::try_from(p).ok().filter(|&p| p < max);
        let host = |t: FlexTensor| -> Vec<i64> { t.into_data().iter::<i64>().collect() };
        // Rows of a position tensor: `batch`, or 1 shared by the batch.
        let rows_of_shape = |what: &str, shape: &[usize], expected: &[usize]| -> usize {
            let d = expected.len() - 2;
            let ok = shape.len() == expected.len()
                && (0..shape.len()).all(|i| shape[i] == expected[i] || (i == d && shape[i] == 1));
            assert!(
                ok,
                "{op}: expected {what} of shape {expected:?} (or 1 row shared by the batch), \
                 got {shape:?}"
            );
            shape[d]
        };
        let run = |start: Option<usize>| {
            (0..seq).map(move |s| start.and_then(|o| o.checked_add(s)).filter(|&p| p < max))
        };
        let single = |ids: Vec<Option<usize>>, rows: usize| Self {
            ids,
            rows,
            axes: 1,
            pair_axes: None,
        };
        match positions {
            PositionsPrimitive::Offset(offset) => single(run(Some(offset)).collect(), 1),
            PositionsPrimitive::Offsets(offsets) => {
                let shape = offsets.shape();
                assert!(
                    shape.as_slice() == [batch],
                    "{op}: expected offsets of shape [{batch}], got {shape:?}"
                );
                let ids = host(offsets).into_iter().flat_map(|o| run(in_range(o)));
                single(ids.collect(), batch)
            }
            PositionsPrimitive::Ids(ids) => {
                let rows = rows_of_shape("position ids", ids.shape().as_slice(), &[batch, seq]);
                single(host(ids).into_iter().map(in_range).collect(), rows)
            }
            PositionsPrimitive::Axes { ids, pair_axes } => {
                let shape = ids.shape();
                let axes = shape.as_slice().first().copied().unwrap_or(0);
                let rows = rows_of_shape("coordinates", shape.as_slice(), &[axes, batch, seq]);
                let half = spec.rotary_dim / 2;
                let pair_shape = pair_axes.shape();
                assert!(
                    pair_shape.as_slice() == [half] && pair_axes.dtype() == ids.dtype(),
                    "{op}: expected pair axes of shape [{half}] and dtype {:?}, got {:?} {:?}",
                    ids.dtype(),
                    pair_shape,
                    pair_axes.dtype()
                );
                // [axes, rows, seq] -> [rows, seq, axes]
                let by_axis = host(ids);
                let tokens = rows * seq;
                let ids = (0..tokens * axes)
                    .map(|t| in_range(by_axis[(t % axes) * tokens + t / axes]))
                    .collect();
                let pair_axes = host(pair_axes)
                    .into_iter()
                    .map(|a| usize::try_from(a).ok().filter(|&a| a < axes))
                    .collect();
                Self {
                    ids,
                    rows,
                    axes,
                    pair_axes: Some(pair_axes),
                }
            }
        }
    }
}

/// `a cos t` and `a sin t` (`-t` when inverse), `[ids, half]` each; NaN for a row with a
/// coordinate out of range or a pair whose axis is.
fn angles(table: &[f32], ids: &HostIds, spec: RopeSpec) -> (Vec<f32>, Vec<f32>) {
    let half = spec.rotary_dim / 2;
    let row = |r: usize| {
        let start = r * half * 2;
        table
            .get(start..start + half * 2)
            .unwrap_or_else(|| panic!("rope: position table row {r} is out of range"))
    };
    let sign = if spec.inverse { -1.0 } else { 1.0 };
    let tokens = ids.ids.len() / ids.axes.max(1);
    let mut cos = Vec::with_capacity(tokens * half);
    let mut sin = Vec::with_capacity(tokens * half);
    for token in ids.ids.chunks_exact(ids.axes.max(1)) {
        // Every coordinate in range, else the whole row is NaN.
        let Some(coords) = token.iter().copied().collect::<Option<Vec<usize>>>() else {
            cos.extend(std::iter::repeat_n(f32::NAN, half));
            sin.extend(std::iter::repeat_n(f32::NAN, half));
            continue;
        };
        // The table rows of each axis's coordinate.
        let rows: Vec<_> = coords
            .iter()
            .map(|&p| {
                let (fine, coarse) = rows_of(p);
                (row(fine).split_at(half), row(coarse).split_at(half))
            })
            .collect();
        for i in 0..half {
            let axis = match &ids.pair_axes {
                Some(pair_axes) => pair_axes[i],
                None => Some(0),
            };
            let Some(((cf, sf), (cc, sc))) = axis.map(|a| rows[a]) else {
                cos.push(f32::NAN);
                sin.push(f32::NAN);
                continue;
            };
            cos.push(cf[i] * cc[i] - sf[i] * sc[i]);
            sin.push(sign * (sf[i] * cc[i] + cf[i] * sc[i]));
        }
    }
    (cos, sin)
}

/// A storage type and the type it is rotated in. (`FlexTensor`'s typed views need
/// `bytemuck::Pod`, which this crate does not depend on: they are reached through here.)
trait Store: Copy + Send + Sync + burn::tensor::Element {
    /// `f32`, or `f64` for `f64`.
    type Acc: Copy
        + Send
        + Sync
        + core::ops::Add<Output = Self::Acc>
        + core::ops::Sub<Output = Self::Acc>
        + core::ops::Mul<Output = Self::Acc>;
    const NAN: Self::Acc;
    fn load(self) -> Self::Acc;
    fn store(v: Self::Acc) -> Self;
    fn view(t: &FlexTensor) -> &[Self];
    fn view_mut(t: &mut FlexTensor) -> Option<&mut [Self]>;
}

macro_rules! store {
    ($t:ty, $acc:ty, $load:expr, $store:expr) => {
        #[allow(clippy::redundant_closure_call)]
        impl Store for $t {
            type Acc = $acc;
            const NAN: $acc = <$acc>::NAN;
            #[inline]
            fn load(self) -> $acc {
                $load(self)
            }
            #[inline]
            fn store(v: $acc) -> Self {
                $store(v)
            }
            fn view(t: &FlexTensor) -> &[Self] {
                t.storage::<$t>()
            }
            fn view_mut(t: &mut FlexTensor) -> Option<&mut [Self]> {
                t.try_storage_mut::<$t>()
            }
        }
    };
}
store!(f32, f32, |v| v, |v| v);
store!(f64, f64, |v| v, |v| v);
store!(f16, f32, f16::to_f32, f16::from_f32);
store!(bf16, f32, bf16::to_f32, bf16::from_f32);

/// Rotates every head row of `x`: in place when it is uniquely owned, else into a new buffer.
fn rotate<T: Store>(
    x: FlexTensor,
    angles: (&[T::Acc], &[T::Acc]),
    host: &HostAngles,
    spec: RopeSpec,
    dims: [usize; 4],
) -> FlexTensor {
    // Dense (contiguous, from the buffer's start, nothing past its end): the same tensor when
    // it already is, so that dropping `x` leaves it uniquely owned; else a fresh copy.
    let mut x = {
        let dense = x.to_contiguous();
        drop(x);
        dense
    };
    let n = dims.iter().product::<usize>();
    if let Some(data) = T::view_mut(&mut x) {
        let data = &mut data[..n];
        // SAFETY: `MaybeUninit<T>` has the layout of `T`, and only initialised values are
        // written through this view.
        let data = unsafe { &mut *(data as *mut [T] as *mut [MaybeUninit<T>]) };
        rotate_rows(None, data, angles, host, spec, dims);
        return x;
    }
    let src = &T::view(&x)[..n];
    // Every element is written exactly once: no zero-fill pass.
    let mut out = Vec::with_capacity(n);
    rotate_rows(
        Some(src),
        &mut out.spare_capacity_mut()[..n],
        angles,
        host,
        spec,
        dims,
    );
    // SAFETY: `rotate_rows` wrote all `n` elements (every row, every dim of it).
    unsafe { out.set_len(n) };
    FlexTensor::from_data(TensorData::new(out, dims))
}

/// Rotates the rows of `source` (or of `out` itself, in place) into `out`, across threads.
fn rotate_rows<T: Store>(
    source: Option<&[T]>,
    out: &mut [MaybeUninit<T>],
    (cos, sin): (&[T::Acc], &[T::Acc]),
    host: &HostAngles,
    spec: RopeSpec,
    dims: [usize; 4],
) {
    let (_, heads, seq, head_dim) = spec.axes.split(dims);
    if head_dim == 0 || out.is_empty() {
        return;
    }
    let half = spec.rotary_dim / 2;
    let rows_per_task = (TASK_ELEMS / head_dim).max(1);
    for_each_chunk(out, rows_per_task * head_dim, |task, chunk| {
        let mut buffer = Vec::with_capacity(head_dim);
        for (i, row) in chunk.chunks_exact_mut(head_dim).enumerate() {
            let r = task * rows_per_task + i;
            let (b, s) = match spec.axes {
                AxisOrder::Bhsd => (r / (heads * seq), r % seq),
                AxisOrder::Bshd => (r / (heads * seq), (r / heads) % seq),
            };
            let pos = if host.rows == 1 { s } else { b * seq + s };
            buffer.clear();
            match source {
                Some(src) => buffer.extend(
                    src[r * head_dim..(r + 1) * head_dim]
                        .iter()
                        .map(|&v| v.load()),
                ),
                // SAFETY: in place, `out` is the initialised input.
                None => buffer.extend(row.iter().map(|v| unsafe { v.assume_init() }.load())),
            }
            let angles = (
                &cos[pos * half..(pos + 1) * half],
                &sin[pos * half..(pos + 1) * half],
            );
            rotate_row::<T>(&buffer, row, angles, !host.valid[pos], spec);
        }
    });
}

/// `dst = R src` for one head row; the dims past `rotary_dim` are copied (NaN when `poisoned`:
/// the row's position is out of range, and then its angles are NaN too).
#[inline]
fn rotate_row<T: Store>(
    src: &[T::Acc],
    dst: &mut [MaybeUninit<T>],
    (cos, sin): (&[T::Acc], &[T::Acc]),
    poisoned: bool,
    spec: RopeSpec,
) {
    let rd = spec.rotary_dim;
    let half = rd / 2;
    let pair = |a: T::Acc, b: T::Acc, c: T::Acc, s: T::Acc| (a * c - b * s, b * c + a * s);
    for i in 0..half {
        let (i1, i2) = match spec.layout {
            RopeLayout::Half => (i, i + half),
            RopeLayout::Interleaved => (2 * i, 2 * i + 1),
        };
        let (o1, o2) = pair(src[i1], src[i2], cos[i], sin[i]);
        dst[i1].write(T::store(o1));
        dst[i2].write(T::store(o2));
    }
    for (o, &x) in dst[rd..].iter_mut().zip(&src[rd..]) {
        o.write(T::store(if poisoned { T::NAN } else { x }));
    }
}

/// Runs `f(index, chunk)` on each `len`-long chunk of `out`, across rayon's pool (the one
/// Flex's own kernels use).
fn for_each_chunk<T: Send>(out: &mut [T], len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    out.par_chunks_mut(len)
        .enumerate()
        .for_each(|(i, chunk)| f(i, chunk));
}
