//! NdArray's RoPE: one pass over the data with the rotation of each position computed once
//! and shared by all its heads, split across threads with rayon.
//!
//! Same math as [`crate::reference`], which is its test oracle. A row whose position is outside
//! `0..max_positions` comes out NaN.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use core::ops::{Add, Mul, Neg, Sub};

use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Int, Tensor, TensorMetadata};
use burn_ndarray::{
    FloatNdArrayElement, IntNdArrayElement, NdArray, NdArrayTensor, QuantElement, SharedArray,
};
use ndarray::{ArrayView, IxDyn};
use rayon::prelude::*;

use crate::backend::RopeBackend;
use crate::spec::{check_same_dtype, check_table, AxisOrder, PositionsPrimitive, RopeSpec};
use crate::table::rows_of;
use crate::RopeLayout;

/// Elements per rayon task.
const TASK_ELEMS: usize = 1 << 15;

impl<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement> RopeBackend for NdArray<E, I, Q>
where
    NdArrayTensor: From<SharedArray<E>> + From<SharedArray<I>>,
{
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        if !matches!(x, NdArrayTensor::F32(_) | NdArrayTensor::F64(_)) {
            return crate::reference::rope::<Self>(x, table, positions, spec);
        }
        let angles = HostAngles::new::<E, I, Q>(&x, &table, positions, spec);
        angles.rotate(x, spec)
    }

    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        check_same_dtype("rope (NdArray)", q.dtype(), k.dtype());
        let float = |t: &NdArrayTensor| matches!(t, NdArrayTensor::F32(_) | NdArrayTensor::F64(_));
        if !(float(&q) && float(&k)) {
            let q = crate::reference::rope::<Self>(q, table.clone(), positions.clone(), spec);
            return (q, crate::reference::rope::<Self>(k, table, positions, spec));
        }
        // The angles depend on the positions only: computed once for both.
        let angles = HostAngles::new::<E, I, Q>(&q, &table, positions, spec);
        (angles.rotate(q, spec), angles.rotate(k, spec))
    }
}

/// `a cos t` and `a sin t` of every position row, on the host.
struct HostAngles {
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Whether each token's position is in range (else its whole row is NaN).
    valid: Vec<bool>,
    /// Position rows: 1 (shared by the batch) or `batch`.
    rows: usize,
}

impl HostAngles {
    fn new<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement>(
        x: &NdArrayTensor,
        table: &NdArrayTensor,
        positions: PositionsPrimitive<NdArray<E, I, Q>>,
        spec: RopeSpec,
    ) -> Self
    where
        NdArrayTensor: From<SharedArray<E>> + From<SharedArray<I>>,
    {
        let dims: [usize; 4] = x.shape().dims();
        let (batch, _, seq, _) = spec.axes.split(dims);
        check_table(
            &spec,
            "rope (NdArray)",
            table.dtype(),
            &table.shape().dims::<3>(),
        );
        let ids = position_ids::<E, I, Q>(positions, batch, seq, spec.max_positions);
        let NdArrayTensor::F32(table) = table else {
            unreachable!("checked: the table is f32");
        };
        let table = table.view();
        let table = match table.as_slice() {
            Some(slice) => Cow::Borrowed(slice),
            None => Cow::Owned(table.iter().copied().collect()),
        };
        let (cos, sin, valid) = angles(&table, &ids, spec);
        Self {
            cos,
            sin,
            valid,
            rows: ids.rows,
        }
    }

    /// Rotates an `F32` or `F64` tensor; a uniquely owned one (the usual case inside a model)
    /// in place.
    fn rotate(&self, x: NdArrayTensor, spec: RopeSpec) -> NdArrayTensor {
        macro_rules! rotate {
            ($storage:expr, $angles:expr) => {
                if $storage.is_unique() {
                    rotate_owned($storage.into_owned(), $angles, self.rows, spec).into()
                } else {
                    rotate_view($storage.view(), $angles, self.rows, spec).into()
                }
            };
        }
        match x {
            NdArrayTensor::F64(s) => {
                let widen = |v: &[f32]| v.iter().map(|&c| f64::from(c)).collect::<Vec<_>>();
                let (cos, sin) = (widen(&self.cos), widen(&self.sin));
                rotate!(s, (&cos, &sin, &self.valid))
            }
            NdArrayTensor::F32(s) => rotate!(s, (&self.cos, &self.sin, &self.valid)),
            other => unreachable!("rope: {:?} is not an NdArray float dtype", other.dtype()),
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
    fn single(ids: Vec<Option<usize>>, rows: usize) -> Self {
        Self {
            ids,
            rows,
            axes: 1,
            pair_axes: None,
        }
    }
}

fn position_ids<E: FloatNdArrayElement, I: IntNdArrayElement, Q: QuantElement>(
    positions: PositionsPrimitive<NdArray<E, I, Q>>,
    batch: usize,
    seq: usize,
    max_positions: usize,
) -> HostIds
where
    NdArrayTensor: From<SharedArray<E>> + From<SharedArray<I>>,
{
    let in_range = |p: i64| usize::try_from(p).ok().filter(|&p| p < max_positions);
    let host = |t: IntTensor<NdArray<E, I, Q>>| -> Vec<i64> {
        Tensor::<NdArray<E, I, Q>, 1, Int>::from_primitive(t)
            .into_data()
            .convert::<i64>()
            .to_vec::<i64>()
            .expect("int tensor data")
    };
    let run = |start: Option<usize>| {
        (0..seq).map(move |s| {
            start
                .and_then(|o| o.checked_add(s))
                .filter(|&p| p < max_positions)
        })
    };
    match positions {
        PositionsPrimitive::Offset(offset) => HostIds::single(run(Some(offset)).collect(), 1),
        PositionsPrimitive::Offsets(offsets) => HostIds::single(
            host(offsets)
                .into_iter()
                .flat_map(|o| run(in_range(o)))
                .collect(),
            batch,
        ),
        PositionsPrimitive::Ids(ids) => {
            let ids: Vec<_> = host(ids).into_iter().map(in_range).collect();
            let rows = ids.len() / seq.max(1);
            HostIds::single(ids, rows)
        }
        PositionsPrimitive::Axes { ids, pair_axes } => {
            let shape: [usize; 3] = ids.shape().dims();
            let [axes, rows, _] = shape;
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
            HostIds {
                ids,
                rows,
                axes,
                pair_axes: Some(pair_axes),
            }
        }
    }
}

/// `a cos t` and `a sin t` (`-t` when inverse), `[ids, half]` each, and whether each token is
/// in range. A pair whose axis is out of range is NaN in a valid row.
fn angles(table: &[f32], ids: &HostIds, spec: RopeSpec) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
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
    let mut valid = Vec::with_capacity(tokens);
    for token in ids.ids.chunks_exact(ids.axes) {
        // Every coordinate in range, else the whole row is NaN.
        let Some(coords) = token.iter().copied().collect::<Option<Vec<usize>>>() else {
            cos.extend(std::iter::repeat_n(f32::NAN, half));
            sin.extend(std::iter::repeat_n(f32::NAN, half));
            valid.push(false);
            continue;
        };
        valid.push(true);
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
    (cos, sin, valid)
}

/// `a cos t`, `a sin t` (`[tokens, half]` each) and the validity of each token.
type Angles<'a, T> = (&'a [T], &'a [T], &'a [bool]);

trait Real:
    Copy
    + PartialEq
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
{
}
impl<T> Real for T where
    T: Copy
        + PartialEq
        + Send
        + Sync
        + Add<Output = T>
        + Sub<Output = T>
        + Mul<Output = T>
        + Neg<Output = T>
{
}

/// Where [`rotate`] reads the rows from.
enum Source<'a, T> {
    /// Another (contiguous) buffer.
    Slice(&'a [T]),
    /// The output itself: the input was uniquely owned and contiguous, so it is rotated in
    /// place, with no allocation.
    InPlace,
}

/// Rotates every head row of a uniquely owned array: in place when it is contiguous.
fn rotate_owned<T: Real + From<f32> + 'static>(
    mut array: SharedArray<T>,
    angles: Angles<'_, T>,
    position_rows: usize,
    spec: RopeSpec,
) -> SharedArray<T> {
    let dims: [usize; 4] = array.shape().try_into().expect("rope: input must be 4-D");
    match array.as_slice_mut() {
        Some(data) => {
            // SAFETY: `MaybeUninit<T>` has the layout of `T`, and only initialised values are
            // written through this view.
            let data = unsafe { &mut *(data as *mut [T] as *mut [MaybeUninit<T>]) };
            rotate_rows(Source::InPlace, data, angles, position_rows, spec, dims);
            array
        }
        None => rotate_view(array.view(), angles, position_rows, spec),
    }
}

/// Rotates every head row of `x` into a new contiguous array of the same shape.
fn rotate_view<T: Real + From<f32> + 'static>(
    x: ArrayView<'_, T, IxDyn>,
    angles: Angles<'_, T>,
    position_rows: usize,
    spec: RopeSpec,
) -> SharedArray<T> {
    let shape = x.shape().to_vec();
    let dims: [usize; 4] = shape
        .as_slice()
        .try_into()
        .expect("rope: input must be 4-D");
    let src = x.as_standard_layout();
    let src = src.as_slice().expect("standard layout is contiguous");
    // Every element is written exactly once: no zero-fill pass.
    let n = src.len();
    let mut out = Vec::with_capacity(n);
    let uninit = &mut out.spare_capacity_mut()[..n];
    rotate_rows(
        Source::Slice(src),
        uninit,
        angles,
        position_rows,
        spec,
        dims,
    );
    // SAFETY: `rotate_rows` wrote all `n` elements (every row, every dim of it).
    unsafe { out.set_len(n) };
    ndarray::ArrayD::from_shape_vec(IxDyn(&shape), out)
        .expect("shape matches")
        .into_shared()
}

/// Rotates the rows of `source` (or of `out` itself) into `out`, split across threads.
fn rotate_rows<T: Real + From<f32>>(
    source: Source<'_, T>,
    out: &mut [MaybeUninit<T>],
    (cos, sin, valid): Angles<'_, T>,
    position_rows: usize,
    spec: RopeSpec,
    dims: [usize; 4],
) {
    let (_, heads, seq, head_dim) = spec.axes.split(dims);
    if head_dim == 0 {
        return;
    }
    let half = spec.rotary_dim / 2;
    let rows_per_task = (TASK_ELEMS / head_dim).max(1);
    out.par_chunks_mut(rows_per_task * head_dim)
        .enumerate()
        .for_each(|(task, chunk)| {
            let mut buffer = vec![T::from(0.0); head_dim];
            for (i, row) in chunk.chunks_exact_mut(head_dim).enumerate() {
                let r = task * rows_per_task + i;
                let (b, s) = match spec.axes {
                    AxisOrder::Bhsd => (r / (heads * seq), r % seq),
                    AxisOrder::Bshd => (r / (heads * seq), (r / heads) % seq),
                };
                let pos = if position_rows == 1 { s } else { b * seq + s };
                let src = match source {
                    Source::Slice(src) => &src[r * head_dim..(r + 1) * head_dim],
                    Source::InPlace => {
                        for (b, r) in buffer.iter_mut().zip(row.iter()) {
                            // SAFETY: in place, `out` is the initialised input.
                            *b = unsafe { r.assume_init() };
                        }
                        &buffer
                    }
                };
                let angles = (
                    &cos[pos * half..(pos + 1) * half],
                    &sin[pos * half..(pos + 1) * half],
                );
                rotate_row(src, row, angles, valid[pos], spec);
            }
        });
}

/// `dst = R src` for one head row; the dims past `rotary_dim` are copied (NaN when the row's
/// position is out of range, `valid` false).
#[inline]
fn rotate_row<T: Real + From<f32>>(
    src: &[T],
    dst: &mut [MaybeUninit<T>],
    (cos, sin): (&[T], &[T]),
    valid: bool,
    spec: RopeSpec,
) {
    let rd = spec.rotary_dim;
    let half = rd / 2;
    match spec.layout {
        RopeLayout::Half => {
            let (x1, x2) = src[..rd].split_at(half);
            let (o1, o2) = dst[..rd].split_at_mut(half);
            for (((o1, o2), (&a, &b)), (&c, &s)) in o1
                .iter_mut()
                .zip(o2.iter_mut())
                .zip(x1.iter().zip(x2))
                .zip(cos.iter().zip(sin))
            {
                o1.write(a * c - b * s);
                o2.write(b * c + a * s);
            }
        }
        RopeLayout::Interleaved => {
            for ((o, x), (&c, &s)) in dst[..rd]
                .chunks_exact_mut(2)
                .zip(src[..rd].chunks_exact(2))
                .zip(cos.iter().zip(sin))
            {
                o[0].write(x[0] * c - x[1] * s);
                o[1].write(x[1] * c + x[0] * s);
            }
        }
    }
    for (o, &x) in dst[rd..].iter_mut().zip(&src[rd..]) {
        o.write(if valid { x } else { T::from(f32::NAN) });
    }
}
