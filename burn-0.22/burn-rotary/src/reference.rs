//! RoPE written with plain Burn tensor ops: the default path of every backend and the test
//! oracle of every fast path.
//!
//! For a pair `(x1, x2)` at position `p` with angle `t = p * inv_freq_i` and attention factor `a`:
//!
//! ```text
//! out1 = a (x1 cos t - x2 sin t)
//! out2 = a (x2 cos t + x1 sin t)
//! ```
//!
//! with pairs `(i, i + rotary_dim/2)` (half layout) or `(2i, 2i+1)` (interleaved); the inverse
//! rotation negates `t`. `a cos t` and `a sin t` come from the two-level table (see
//! [`crate::table`]). Arithmetic is `f32` (or `f64` for `f64` inputs) whatever the storage dtype.
//! A row whose position is outside `0..max_positions` is NaN (the table is read at position 0
//! for it, never outside).

use burn::tensor::{Bool, DType, Device, Int, Tensor};

use crate::RopeLayout;
use crate::spec::{AxisOrder, PositionTensors, RopeSpec, check_table};
use crate::table::FINE;

/// Applies RoPE with tensor ops: `x` is `[batch, heads, seq, head_dim]` or
/// `[batch, seq, heads, head_dim]` (`spec.axes`), `table` the `[rows, 2, rotary_dim / 2]` `f32`
/// angle table of [`crate::table`]. The output has the shape, axis order and dtype of `x`.
///
/// # Panics
/// If the table is not `f32` or fails [`RopeSpec::check_table_shape`].
pub fn rope(
    x: Tensor<4>,
    table: Tensor<3>,
    positions: PositionTensors,
    spec: RopeSpec,
) -> Tensor<4> {
    check_table(&spec, "rope (tensor ops)", table.dtype(), &table.dims());
    let dtype = x.dtype();
    let compute = if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    };
    let x = match spec.axes {
        AxisOrder::Bhsd => x,
        AxisOrder::Bshd => x.swap_dims(1, 2),
    }
    .cast(compute);
    let [batch, heads, seq, head_dim] = x.dims();
    let (rd, half) = (spec.rotary_dim, spec.rotary_dim / 2);

    // [pb, 1, seq, half] each, and the rows out of range [pb, seq].
    let (cos, sin, invalid) = match positions {
        PositionTensors::Axes { ids, pair_axes } => {
            axis_angles(table.cast(compute), ids, pair_axes, spec.max_positions)
        }
        positions => {
            let (ids, invalid) =
                position_ids(positions, batch, seq, spec.max_positions, &x.device());
            let (cos, sin) = angles(table.cast(compute), ids.mask_fill(invalid.clone(), 0));
            (cos, sin, invalid)
        }
    };
    let sin = if spec.inverse { sin.neg() } else { sin };

    let rotate = |x1: Tensor<4>, x2: Tensor<4>| {
        let out1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
        let out2 = x2 * cos.clone() + x1 * sin.clone();
        (out1, out2)
    };
    let rotated = match spec.layout {
        RopeLayout::Half => {
            let (out1, out2) = rotate(
                x.clone().narrow(3, 0, half),
                x.clone().narrow(3, half, half),
            );
            Tensor::cat(vec![out1, out2], 3)
        }
        RopeLayout::Interleaved => {
            let pairs = x
                .clone()
                .narrow(3, 0, rd)
                .reshape([batch, heads, seq, half, 2]);
            let pick = |j| {
                pairs
                    .clone()
                    .narrow(4, j, 1)
                    .reshape([batch, heads, seq, half])
            };
            let (out1, out2) = rotate(pick(0), pick(1));
            Tensor::stack::<5>(vec![out1, out2], 4).reshape([batch, heads, seq, rd])
        }
    };
    let out = if rd < head_dim {
        Tensor::cat(vec![rotated, x.narrow(3, rd, head_dim - rd)], 3)
    } else {
        rotated
    };
    // 1 on valid rows, NaN on rows whose position is out of range.
    let [pb, _] = invalid.dims();
    let poison = Tensor::<4>::ones([pb, 1, seq, 1], &out.device())
        .cast(compute)
        .mask_fill(invalid.reshape([pb, 1, seq, 1]), f64::NAN);
    let out = (out * poison).cast(dtype);
    match spec.axes {
        AxisOrder::Bhsd => out,
        AxisOrder::Bshd => out.swap_dims(1, 2),
    }
}

/// Position ids `[pb, seq]` with `pb` 1 or `batch`, and where they are out of range: negative,
/// at least `max_positions`, or (per-sequence offsets) after an offset that is.
fn position_ids(
    positions: PositionTensors,
    batch: usize,
    seq: usize,
    max_positions: usize,
    device: &Device,
) -> (Tensor<2, Int>, Tensor<2, Bool>) {
    let out_of_range = |t: Tensor<2, Int>| {
        t.clone()
            .lower_elem(0)
            .bool_or(t.greater_equal_elem(max_positions as i64))
    };
    let steps = || Tensor::<1, Int>::arange(0..seq as i64, device);
    match positions {
        PositionTensors::Offset(offset) => {
            let ids = steps().add_scalar(offset as i64).reshape([1, seq]);
            (ids.clone(), out_of_range(ids))
        }
        PositionTensors::Offsets(offsets) => {
            let offsets = offsets.reshape([batch, 1]);
            let ids = offsets.clone() + steps().reshape([1, seq]);
            let bad_offset = out_of_range(offsets).expand([batch, seq]);
            (ids.clone(), out_of_range(ids).bool_or(bad_offset))
        }
        PositionTensors::Ids(ids) => (ids.clone(), out_of_range(ids)),
        PositionTensors::Axes { .. } => unreachable!("axis coordinates go to `axis_angles`"),
    }
}

/// `(a cos t, a sin t)` of every row for coordinates `ids` `[axes, pb, seq]` whose pair `i`
/// follows axis `pair_axes[i]`, shaped `[pb, 1, seq, half]`, and the rows with a coordinate
/// out of range on some axis `[pb, seq]`. A pair whose axis is out of range is NaN.
fn axis_angles(
    table: Tensor<3>,
    ids: Tensor<3, Int>,
    pair_axes: Tensor<1, Int>,
    max_positions: usize,
) -> (Tensor<4>, Tensor<4>, Tensor<2, Bool>) {
    let [axes, pb, seq] = ids.dims();
    let [rows, _, half] = table.dims();
    let bad_ids = ids
        .clone()
        .lower_elem(0)
        .bool_or(ids.clone().greater_equal_elem(max_positions as i64));
    let invalid = bad_ids
        .clone()
        .int()
        .sum_dim(0)
        .greater_elem(0)
        .reshape([pb, seq]);
    let bad_axes = pair_axes
        .clone()
        .lower_elem(0)
        .bool_or(pair_axes.clone().greater_equal_elem(axes as i64));
    // The position of every (row, pair), [pb * seq, half]: `ids[pair_axes[i], row]`, as a sum
    // over the axes of `ids[a, row] * (pair_axes[i] == a)` (broadcasting only). Selecting along
    // the axes then transposing would be shorter, but Burn 0.22's fused wgpu backend computes
    // the remainder of `table_rows` wrongly on that transposed view when `pb * seq` is 1 (an
    // M-RoPE decode step): `[908174, 123833, 593470]` gave fine rows `[574, 0, 0]`.
    let device = ids.device();
    let one_hot = pair_axes
        .mask_fill(bad_axes.clone(), 0)
        .reshape([1, 1, half])
        .equal(Tensor::<1, Int>::arange(0..axes as i64, &device).reshape([axes, 1, 1]))
        .int();
    let per_pair = (ids.mask_fill(bad_ids, 0).reshape([axes, pb * seq, 1]) * one_hot)
        .sum_dim(0)
        .reshape([pb * seq, half]);
    let (fine, coarse) = table_rows(per_pair);
    let part = |j| table.clone().narrow(1, j, 1).reshape([rows, half]);
    let look =
        |j, rows: &Tensor<2, Int>| part(j).gather(0, rows.clone()).reshape([pb, 1, seq, half]);
    let (cf, sf, cc, sc) = (
        look(0, &fine),
        look(1, &fine),
        look(0, &coarse),
        look(1, &coarse),
    );
    let cos = cf.clone() * cc.clone() - sf.clone() * sc.clone();
    let sin = sf * cc + cf * sc;
    // 1 on pairs with a valid axis, NaN on the others.
    let poison = Tensor::<1>::ones([half], &cos.device())
        .cast(cos.dtype())
        .mask_fill(bad_axes, f64::NAN)
        .reshape([1, 1, 1, half]);
    (cos * poison.clone(), sin * poison, invalid)
}

/// `(a cos t, a sin t)` of every position id, shaped `[pb, 1, seq, half]`.
fn angles(table: Tensor<3>, ids: Tensor<2, Int>) -> (Tensor<4>, Tensor<4>) {
    let [pb, seq] = ids.dims();
    let [rows, _, half] = table.dims();
    let (fine, coarse) = table_rows(ids.reshape([pb * seq]));
    // Rows `[cos.., sin..]`. The reshape also packs a table whose rows are pitched (a view,
    // as on CUDA), which some backends' `select` refuses (Candle: "index-select only supports
    // contiguous tensors").
    let table = table.reshape([rows, 2 * half]);
    let (fine, coarse) = (table.clone().select(0, fine), table.select(0, coarse));
    let part = |t: &Tensor<2>, j| {
        t.clone()
            .narrow(1, j * half, half)
            .reshape([pb, 1, seq, half])
    };
    let (cf, sf, cc, sc) = (
        part(&fine, 0),
        part(&fine, 1),
        part(&coarse, 0),
        part(&coarse, 1),
    );
    let cos = cf.clone() * cc.clone() - sf.clone() * sc.clone();
    let sin = sf * cc + cf * sc;
    (cos, sin)
}

/// The fine and coarse table rows of non-negative positions `p`: `p % FINE` and
/// `FINE + p / FINE`.
fn table_rows<const D: usize>(p: Tensor<D, Int>) -> (Tensor<D, Int>, Tensor<D, Int>) {
    let coarse = p.clone().div_scalar(FINE as i64).add_scalar(FINE as i64);
    (p.remainder_scalar(FINE as i64), coarse)
}
