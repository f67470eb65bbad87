//! The fused RoPE kernel, written once in CubeCL for CUDA, wgpu and every other CubeCL runtime.
//!
//! One unit owns one token `(b, s)` and one vector of pairs of the head dim, in every head of q
//! and k, or, when there are few tokens (decoding), in one group of those heads, so that the
//! launch fills the device. It evaluates the rotation of its pairs once, from the two-level
//! angle table ([`crate::table`]):
//!
//! ```text
//! cos t = cos(t_fine) cos(t_coarse) - sin(t_fine) sin(t_coarse)
//! sin t = sin(t_fine) cos(t_coarse) + cos(t_fine) sin(t_coarse)      (both already times a)
//! ```
//!
//! and applies it to that vector in each of its heads, q's and k's as one range (GQA: the head
//! counts may differ): `out1 = x1 cos t - x2 sin t`, `out2 = x2 cos t + x1 sin t`, in `f32`
//! whatever the storage dtype. Units past the rotary pairs copy the pass-through dims. Inputs
//! are read through their strides (any view, either axis order); outputs are contiguous.
//! Neighbouring units take neighbouring vectors of one head row, so accesses coalesce.
//!
//! Bounds: a position outside `0..max_positions` (a negative id, a padding id, an offset that
//! runs past the end) is compared in its own integer type, before any cast, and its row reads
//! the table's NaN poison row instead: the whole row comes out NaN and nothing is read outside
//! the table, whose shape the launcher checks.

use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

use crate::spec::{check_same_dtype, check_table, AxisOrder, RopeSpec};
use crate::table::FINE;
use crate::RopeLayout;

use super::launch_shape::{contiguous_head_dim, cube_dim, head_groups, vector_size, Tuning};

/// Where the kernel reads each row's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PositionMode {
    /// `offset + s`.
    Offset,
    /// `positions[b] + s`.
    Offsets,
    /// `positions[b * ids_batch_stride + s]`.
    Ids,
    /// Pair `i` at `positions[pair_axes[i], b * ids_batch_stride + s]`.
    Axes,
}

/// How a unit's elements map to pairs (comptime).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PairShape {
    /// `x1` and `x2` are two loads `half` (half layout) or one element (interleaved with
    /// vector size 1) apart.
    TwoLoads,
    /// Interleaved pairs inside one vector: `(v[2m], v[2m + 1])`.
    InVector,
}

#[cube(launch_unchecked, address_type = "dynamic")]
fn rope_kernel<F: Float, P: Int, N: Size>(
    q: &Tensor<Vector<F, N>>, // [batch, q_heads, seq, head_dim] or [batch, seq, q_heads, head_dim]
    k: &Tensor<Vector<F, N>>, // the same with k_heads
    q_out: &mut Tensor<Vector<F, N>>, // shape of q, contiguous
    k_out: &mut Tensor<Vector<F, N>>, // shape of k, contiguous
    table: &Tensor<f32>,      // [rows, 2, rotary_dim / 2], last row NaN, last dim contiguous
    positions: &Tensor<P>,    // offsets [batch] | ids [pb, seq] | ids [axes, pb, seq] | unused
    pair_axes: &Tensor<P>,    // [rotary_dim / 2] (PositionMode::Axes) | unused
    axes: usize,              // coordinate axes (PositionMode::Axes)
    tokens: usize,            // batch * seq
    seq: usize,               // seq
    q_heads: usize,           // q_heads
    heads: usize,             // q_heads + k_heads (k_heads 0: q only)
    groups: usize,            // head groups: unit g of a token does heads g, g + groups, ..
    offset: usize,            // position of row 0 (PositionMode::Offset)
    ids_batch_stride: usize,  // 0 when the ids are shared by the batch
    max_positions: usize,     // exclusive bound of valid positions
    sign: f32,                // 1, or -1 for the inverse rotation
    #[comptime] rotary_dim: usize,
    #[comptime] head_dim: usize,
    #[comptime] pairs: PairShape,
    #[comptime] interleaved: bool,
    #[comptime] mode: PositionMode,
    #[comptime] seq_first: bool,
    #[define(F, P)] _dtypes: [StorageType; 2],
) {
    let n = N::value();
    let half = comptime!(rotary_dim / 2);
    // Pairs per unit, rotary units and pass-through units per token.
    let unit_pairs = comptime!(match pairs {
        PairShape::TwoLoads =>
            if interleaved {
                1
            } else {
                n
            },
        PairShape::InVector => n / 2,
    });
    let rotary_units = comptime!(half / unit_pairs);
    let units = comptime!(rotary_units + (head_dim - rotary_dim) / n);

    if ABSOLUTE_POS >= tokens * units * groups {
        terminate!();
    }
    // The unit varies fastest: neighbouring threads touch neighbouring vectors.
    let unit = ABSOLUTE_POS % units;
    let group = (ABSOLUTE_POS / units) % groups;
    let token = ABSOLUTE_POS / (units * groups);
    let b = token / seq;
    let s = token % seq;
    let (h_axis, s_axis) = comptime!(if seq_first {
        (2usize, 1usize)
    } else {
        (1usize, 2usize)
    });

    // The position, checked in its own type before any cast (a negative id must not wrap).
    let bound = P::cast_from(max_positions);
    let (position, valid) = match comptime!(mode) {
        PositionMode::Offset => (offset + s, offset + s < max_positions),
        PositionMode::Offsets => {
            let raw = positions[b * positions.stride(0)];
            let start = usize::cast_from(raw);
            let ok = raw >= P::new(0) && raw < bound && start + s < max_positions;
            (start + s, ok)
        }
        PositionMode::Ids => {
            let raw = positions[b * ids_batch_stride + s * positions.stride(1)];
            (usize::cast_from(raw), raw >= P::new(0) && raw < bound)
        }
        PositionMode::Axes => {
            // The row is valid when its coordinate on every axis is.
            let mut ok = true;
            for a in 0..axes {
                let raw = positions
                    [a * positions.stride(0) + b * ids_batch_stride + s * positions.stride(2)];
                ok = ok && raw >= P::new(0) && raw < bound;
            }
            (0usize, ok)
        }
    };
    // Table rows are read through their strides: CUDA pitches rows whose size is not a multiple
    // of its alignment (a `rotary_dim` of 24 gives rows of 32 floats, not 24).
    let row = table.stride(0);
    let sin_at = table.stride(1);
    let poison = table.shape(0) - 1;
    let poison_value = table[poison * row];

    if unit >= rotary_units {
        // Pass-through dims: a copy (NaN for a row out of range).
        let e = rotary_dim + (unit - rotary_units) * n;
        for hh in range_stepped(group, heads, groups) {
            let is_q = hh < q_heads;
            let h = if is_q { hh } else { hh - q_heads };
            let value = if is_q {
                q[(b * q.stride(0) + h * q.stride(h_axis) + s * q.stride(s_axis) + e * q.stride(3))
                    / n]
            } else {
                k[(b * k.stride(0) + h * k.stride(h_axis) + s * k.stride(s_axis) + e * k.stride(3))
                    / n]
            };
            let value = if valid {
                value
            } else {
                Vector::<F, N>::new(F::cast_from(poison_value))
            };
            if is_q {
                q_out[(b * q_out.stride(0)
                    + h * q_out.stride(h_axis)
                    + s * q_out.stride(s_axis)
                    + e)
                    / n] = value;
            } else {
                k_out[(b * k_out.stride(0)
                    + h * k_out.stride(h_axis)
                    + s * k_out.stride(s_axis)
                    + e)
                    / n] = value;
            }
        }
        terminate!();
    }

    let (fine, coarse) = if valid {
        ((position % FINE) * row, (FINE + position / FINE) * row)
    } else {
        (poison * row, poison * row)
    };

    // The rotation of this unit's pairs: element j of the vector belongs to pair `first + j`
    // (two loads) or `first + j / 2` (in-vector, where odd lanes take +sin and even lanes -sin).
    let first = unit * unit_pairs;
    let mut cos = Vector::<f32, N>::empty();
    let mut sin = Vector::<f32, N>::empty();
    #[unroll]
    for j in 0..n {
        let pair = comptime!(match pairs {
            PairShape::TwoLoads =>
                if interleaved {
                    0
                } else {
                    j
                },
            PairShape::InVector => j / 2,
        });
        let i = first + pair;
        // With several axes, each pair has its own position: that of its axis.
        let (fine, coarse) = match comptime!(mode) {
            PositionMode::Axes => {
                let raw_axis = pair_axes[i];
                let axis_ok = raw_axis >= P::new(0) && raw_axis < P::cast_from(axes);
                let mut a = 0usize;
                if axis_ok {
                    a = usize::cast_from(raw_axis);
                }
                let p = usize::cast_from(
                    positions
                        [a * positions.stride(0) + b * ids_batch_stride + s * positions.stride(2)],
                );
                if valid && axis_ok {
                    ((p % FINE) * row, (FINE + p / FINE) * row)
                } else {
                    (poison * row, poison * row)
                }
            }
            _ => (fine, coarse),
        };
        let (cf, sf) = (table[fine + i], table[fine + sin_at + i]);
        let (cc, sc) = (table[coarse + i], table[coarse + sin_at + i]);
        let sn = (sf * cc + cf * sc) * sign;
        cos[j] = cf * cc - sf * sc;
        sin[j] = match comptime!(pairs) {
            PairShape::TwoLoads => sn,
            PairShape::InVector => {
                if comptime!(j % 2 == 0) {
                    -sn
                } else {
                    sn
                }
            }
        };
    }

    // Element offsets of x1 and x2 within the head.
    let (e1, e2) = match comptime!(pairs) {
        PairShape::TwoLoads => {
            if comptime!(interleaved) {
                (2 * first, 2 * first + 1)
            } else {
                (first, first + half)
            }
        }
        PairShape::InVector => (2 * first, 2 * first),
    };

    for hh in range_stepped(group, heads, groups) {
        if hh < q_heads {
            let src = b * q.stride(0) + hh * q.stride(h_axis) + s * q.stride(s_axis);
            let dst = b * q_out.stride(0) + hh * q_out.stride(h_axis) + s * q_out.stride(s_axis);
            rotate::<F, N>(q, q_out, src, q.stride(3), dst, e1, e2, cos, sin, pairs);
        } else {
            let h = hh - q_heads;
            let src = b * k.stride(0) + h * k.stride(h_axis) + s * k.stride(s_axis);
            let dst = b * k_out.stride(0) + h * k_out.stride(h_axis) + s * k_out.stride(s_axis);
            rotate::<F, N>(k, k_out, src, k.stride(3), dst, e1, e2, cos, sin, pairs);
        }
    }
}

/// Rotates the pairs at element offsets `e1`/`e2` of one head row.
#[cube]
#[allow(clippy::too_many_arguments)]
fn rotate<F: Float, N: Size>(
    x: &Tensor<Vector<F, N>>,
    out: &mut Tensor<Vector<F, N>>,
    src: usize,
    stride: usize,
    dst: usize,
    e1: usize,
    e2: usize,
    cos: Vector<f32, N>,
    sin: Vector<f32, N>,
    #[comptime] pairs: PairShape,
) {
    let n = N::value();
    match comptime!(pairs) {
        PairShape::TwoLoads => {
            let x1 = Vector::<f32, N>::cast_from(x[(src + e1 * stride) / n]);
            let x2 = Vector::<f32, N>::cast_from(x[(src + e2 * stride) / n]);
            out[(dst + e1) / n] = Vector::<F, N>::cast_from(x1 * cos - x2 * sin);
            out[(dst + e2) / n] = Vector::<F, N>::cast_from(x2 * cos + x1 * sin);
        }
        PairShape::InVector => {
            let v = Vector::<f32, N>::cast_from(x[(src + e1) / n]);
            let mut swapped = Vector::<f32, N>::empty();
            #[unroll]
            for j in 0..n {
                swapped[j] = v[comptime!(j ^ 1)];
            }
            out[(dst + e1) / n] = Vector::<F, N>::cast_from(v * cos + swapped * sin);
        }
    }
}

/// Positions as the launcher takes them.
// Built once per launch and consumed by it: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum KernelPositions<R: CubeRuntime> {
    /// Row `s` is at `offset + s`.
    Offset(usize),
    /// Row `s` of sequence `b` is at `offsets[b] + s`; `[batch]`.
    Offsets(CubeTensor<R>),
    /// Position ids, `[batch, seq]` or `[1, seq]`.
    Ids(CubeTensor<R>),
    /// Coordinates `[axes, batch, seq]` or `[axes, 1, seq]`, and the axis of each pair
    /// `[rotary_dim / 2]` (same int dtype).
    Axes {
        /// The coordinates.
        ids: CubeTensor<R>,
        /// The axis of each pair.
        pair_axes: CubeTensor<R>,
    },
}

/// Launches [`rope_kernel`] on q (and k): new contiguous outputs of the same shapes.
///
/// # Panics
/// If the table fails [`RopeSpec::check_table_shape`] (or is not `f32`) or its last dim is not contiguous, or q and k
/// differ in dtype.
pub fn launch_rope<R: CubeRuntime>(
    q: CubeTensor<R>,
    k: Option<CubeTensor<R>>,
    table: CubeTensor<R>,
    positions: KernelPositions<R>,
    spec: RopeSpec,
) -> (CubeTensor<R>, Option<CubeTensor<R>>) {
    let op = "rope kernel";
    check_table(&spec, op, table.dtype, table.meta.shape());
    // Rows may be pitched (CUDA aligns them); the kernel reads through the strides.
    assert!(
        table.meta.strides()[2] == 1,
        "{op}: the angle table's last dim must be contiguous, got strides {:?}",
        table.meta.strides()
    );
    if let Some(k) = &k {
        check_same_dtype(op, q.dtype, k.dtype);
    }
    // A head dim that is not contiguous (e.g. the gradient of a transposed product) would
    // force scalar, uncoalesced loads: one contiguous copy is cheaper.
    let q = contiguous_head_dim(q);
    let k = k.map(contiguous_head_dim);

    let dims: [usize; 4] = q.meta.shape().dims();
    let (batch, q_heads, seq, head_dim) = spec.axes.split(dims);
    let k_heads = k
        .as_ref()
        .map_or(0, |k| spec.axes.split(k.meta.shape().dims()).1);
    let empty_like = |t: &CubeTensor<R>| {
        empty_device_contiguous_dtype(
            t.client.clone(),
            t.device.clone(),
            t.meta.shape().clone(),
            t.dtype,
        )
    };
    let q_out = empty_like(&q);
    let k_out = k.as_ref().map(empty_like);
    let tokens = batch * seq;
    let heads = q_heads + k_heads;
    if tokens == 0 || heads == 0 {
        return (q_out, k_out);
    }

    let rotary_dim = spec.rotary_dim;
    let half = rotary_dim / 2;
    let interleaved = spec.layout == RopeLayout::Interleaved;
    let inputs: Vec<&CubeTensor<R>> = core::iter::once(&q).chain(k.as_ref()).collect();
    let n = vector_size(&inputs, head_dim, rotary_dim, interleaved);
    let pairs = if interleaved && n > 1 {
        PairShape::InVector
    } else {
        PairShape::TwoLoads
    };
    let unit_pairs = match pairs {
        PairShape::TwoLoads if interleaved => 1,
        PairShape::TwoLoads => n,
        PairShape::InVector => n / 2,
    };
    let units = half / unit_pairs + (head_dim - rotary_dim) / n;

    let client = q.client.clone();
    // The position rows a tensor of position ids has: `batch`, or 1 shared by the batch.
    let check_rows = |what: &str, shape: &[usize], expected: &[usize]| {
        let rows_ok = shape.len() == expected.len()
            && shape
                .iter()
                .zip(expected)
                .enumerate()
                .all(|(d, (&got, &want))| got == want || (d == expected.len() - 2 && got == 1));
        assert!(
            rows_ok,
            "{op}: expected {what} of shape {expected:?} (or 1 row shared by the batch), got \
             {shape:?}"
        );
    };
    let batch_stride = |t: &CubeTensor<R>, dim: usize| {
        let shared = t.meta.shape()[dim] == 1 && batch > 1;
        if shared {
            0
        } else {
            t.meta.strides()[dim]
        }
    };
    let (mode, offset, ids_batch_stride, positions, pair_axes, axes) = match positions {
        // The position tensors are not read in this mode: bind the table's buffer in their
        // place (no allocation per call).
        KernelPositions::Offset(offset) => {
            let unused = CubeTensor {
                dtype: DType::I32,
                ..table.clone()
            };
            (PositionMode::Offset, offset, 0, unused.clone(), unused, 1)
        }
        KernelPositions::Offsets(t) => {
            assert!(
                t.meta.shape().dims::<1>() == [batch],
                "{op}: expected offsets of shape [{batch}], got {:?}",
                t.meta.shape()
            );
            (PositionMode::Offsets, 0, 0, t.clone(), t, 1)
        }
        KernelPositions::Ids(t) => {
            check_rows("position ids", t.meta.shape(), &[batch, seq]);
            let stride = batch_stride(&t, 0);
            (PositionMode::Ids, 0, stride, t.clone(), t, 1)
        }
        KernelPositions::Axes { ids, pair_axes } => {
            let axes = ids.meta.shape().first().copied().unwrap_or(0);
            check_rows("coordinates", ids.meta.shape(), &[axes, batch, seq]);
            assert!(
                pair_axes.meta.shape().dims::<1>() == [half] && pair_axes.dtype == ids.dtype,
                "{op}: expected pair axes of shape [{half}] and dtype {:?}, got {:?} {:?}",
                ids.dtype,
                pair_axes.meta.shape(),
                pair_axes.dtype
            );
            let stride = batch_stride(&ids, 1);
            (PositionMode::Axes, 0, stride, ids, pair_axes, axes)
        }
    };

    let tuning = Tuning::from_env();
    let groups = head_groups(&client, tokens * units, heads, tuning.heads_per_unit);
    let working_units = tokens * units * groups;
    let cube_dim = cube_dim(&client, working_units, tuning.planes_per_cube);
    let cube_count = calculate_cube_count_elemwise(&client, working_units, cube_dim);
    let tensors = [&q, &table, &positions, &q_out];
    let address_type = tensors
        .iter()
        .map(|t| t.required_address_type())
        .chain(
            k.iter()
                .chain(k_out.iter())
                .map(|t| t.required_address_type()),
        )
        .max()
        .unwrap_or_default();
    let dtypes = [q.dtype.into(), positions.dtype.into()];
    // With q alone, q is bound as k too and no head of the range is k's.
    let (k_arg, k_out_arg) = match (&k, &k_out) {
        (Some(k), Some(k_out)) => (k.clone(), k_out.clone()),
        _ => (q.clone(), q_out.clone()),
    };

    unsafe {
        rope_kernel::launch_unchecked::<R>(
            &client,
            cube_count,
            cube_dim,
            address_type,
            n,
            q.into_tensor_arg(),
            k_arg.into_tensor_arg(),
            q_out.clone().into_tensor_arg(),
            k_out_arg.into_tensor_arg(),
            table.into_tensor_arg(),
            positions.into_tensor_arg(),
            pair_axes.into_tensor_arg(),
            axes,
            tokens,
            seq,
            q_heads,
            heads,
            groups,
            offset,
            ids_batch_stride,
            spec.max_positions,
            if spec.inverse { -1.0 } else { 1.0 },
            rotary_dim,
            head_dim,
            pairs,
            interleaved,
            mode,
            spec.axes == AxisOrder::Bshd,
            dtypes,
        );
    }
    (q_out, k_out)
}
