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

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Int, Tensor, TensorPrimitive};

use crate::backend::{AxisOrder, PositionsPrimitive, RopeSpec};
use crate::config::RopeLayout;
use crate::table::FINE;

/// Applies RoPE with tensor ops; see [`RopeBackend::rope`](crate::RopeBackend::rope).
pub fn rope<B: Backend>(
    x: FloatTensor<B>,
    table: FloatTensor<B>,
    positions: PositionsPrimitive<B>,
    spec: RopeSpec,
) -> FloatTensor<B> {
    let x = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(x));
    let table = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(table));
    rope_tensor(x, table, positions, spec)
        .into_primitive()
        .tensor()
}

fn rope_tensor<B: Backend>(
    x: Tensor<B, 4>,
    table: Tensor<B, 3>,
    positions: PositionsPrimitive<B>,
    spec: RopeSpec,
) -> Tensor<B, 4> {
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

    let ids = position_ids::<B>(positions, batch, seq, &x.device());
    let (cos, sin) = angles(table.cast(compute), ids); // [pb, 1, seq, half]
    let sin = if spec.inverse { sin.neg() } else { sin };

    let rotate = |x1: Tensor<B, 4>, x2: Tensor<B, 4>| {
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
    let out = out.cast(dtype);
    match spec.axes {
        AxisOrder::Bhsd => out,
        AxisOrder::Bshd => out.swap_dims(1, 2),
    }
}

/// Position ids `[pb, seq]` with `pb` 1 or `batch`.
fn position_ids<B: Backend>(
    positions: PositionsPrimitive<B>,
    batch: usize,
    seq: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let steps = || Tensor::<B, 1, Int>::arange(0..seq as i64, device);
    match positions {
        PositionsPrimitive::Offset(offset) => steps().add_scalar(offset as i64).reshape([1, seq]),
        PositionsPrimitive::Offsets(offsets) => {
            let offsets = Tensor::<B, 1, Int>::from_primitive(offsets).reshape([batch, 1]);
            offsets + steps().reshape([1, seq])
        }
        PositionsPrimitive::Ids(ids) => Tensor::from_primitive(ids),
    }
}

/// `(a cos t, a sin t)` of every position id, shaped `[pb, 1, seq, half]`.
fn angles<B: Backend>(table: Tensor<B, 3>, ids: Tensor<B, 2, Int>) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let [pb, seq] = ids.dims();
    let [_, _, half] = table.dims();
    let flat = ids.reshape([pb * seq]);
    let fine = table
        .clone()
        .select(0, flat.clone().remainder_scalar(FINE as i64));
    let coarse = table.select(0, flat.div_scalar(FINE as i64).add_scalar(FINE as i64));
    let part = |t: &Tensor<B, 3>, j| t.clone().narrow(1, j, 1).reshape([pb, 1, seq, half]);
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
