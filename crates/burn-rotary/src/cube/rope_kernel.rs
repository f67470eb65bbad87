//! The fused RoPE kernel (`#[cube]` code only; the launcher is [`super::launch`]).
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
//!
//! # One file, two Burn lines
//!
//! This file is the kernel of both burn-rotary lines: `crates/burn-rotary/src/cube/` (Burn 0.21,
//! cubecl 0.10) holds it, and `burn-0.22/burn-rotary/src/cube/rope_kernel.rs` (Burn 0.22,
//! cubecl 0.11) is a link to it. What differs between the two cubecl versions goes through each
//! line's `compat.rs`:
//!
//! ```text
//!                          cubecl 0.10                   cubecl 0.11
//! `#[define]` value type   StorageType                   ElemType          (DefineType)
//! lane j of a Vector       v[j], v[j] = x                v.extract(j), v.insert(j, x)
//!                                                        (lane, set_lane)
//! the `cubecl` crate       a dependency                  burn_cubecl::cubecl
//! ```
//!
//! and one habit keeps the text valid for both: an element store names its index first
//! (`let at = (..) / n; q_out[at] = value;`), since under cubecl 0.11 rustc rejects a shared
//! borrow of `q_out` (its strides) inside the index of its own mutable borrow (E0502). The
//! `mod` line of each line carries `#[rustfmt::skip]`: the two workspaces format in different
//! styles (editions 2021 and 2024), and one text must satisfy both.
//!
//! The kernel is private; the launcher, a sibling module, reaches it through the re-export
//! below.

use super::compat::{DefineType, cubecl, lane, set_lane};
use cubecl::prelude::*;

use crate::table::FINE;

/// The launch function `#[cube]` generates for [`rope_kernel`] (in a private module).
pub(super) use rope_kernel::launch_unchecked as launch_rope_kernel;

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
    #[define(F, P)] _dtypes: [DefineType; 2],
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
                let at =
                    (b * q_out.stride(0) + h * q_out.stride(h_axis) + s * q_out.stride(s_axis) + e)
                        / n;
                q_out[at] = value;
            } else {
                let at =
                    (b * k_out.stride(0) + h * k_out.stride(h_axis) + s * k_out.stride(s_axis) + e)
                        / n;
                k_out[at] = value;
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
        set_lane::<f32, N>(&mut cos, j, cf * cc - sf * sc);
        let sin_j = match comptime!(pairs) {
            PairShape::TwoLoads => sn,
            PairShape::InVector => {
                if comptime!(j % 2 == 0) {
                    -sn
                } else {
                    sn
                }
            }
        };
        set_lane::<f32, N>(&mut sin, j, sin_j);
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
                set_lane::<f32, N>(&mut swapped, j, lane::<f32, N>(v, comptime!(j ^ 1)));
            }
            out[(dst + e1) / n] = Vector::<F, N>::cast_from(v * cos + swapped * sin);
        }
    }
}
