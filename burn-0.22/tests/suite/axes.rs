//! Several coordinate axes (M-RoPE, image / video RoPE): pair `i` of a row is rotated by the
//! row's coordinate on axis `pair_axes[i]`. The same properties as one axis, on every path.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;
use burn_rotary::{AxisFrequencies, PositionTensors, RopeSpec};

use super::bounds::panic_message;
use super::extension;
use super::fast_path::tolerance;
use super::oracle::Oracle;
use super::{Rng, assert_close, fresh_seed, normal, values};

/// Multi-axis configs: both layouts, chunked / interleaved / explicit maps, partial rotary.
pub fn axis_configs() -> Vec<RopeConfig> {
    use PositionAxes::{InterleavedSections, PerPair, Sections};
    vec![
        // Qwen2-VL: M-RoPE, chunked sections over the half layout.
        RopeConfig::new(32)
            .with_theta(1e6)
            .with_position_axes(Some(Sections(vec![4, 6, 6]))),
        // Qwen3-VL: interleaved sections T H W T H W ...
        RopeConfig::new(32).with_position_axes(Some(InterleavedSections(vec![6, 5, 5]))),
        // Qwen3.5: the same on a partial rotary dim.
        RopeConfig::new(48)
            .with_rotary_dim(Some(12))
            .with_position_axes(Some(InterleavedSections(vec![2, 2, 2]))),
        // Flux-like: one block of interleaved pairs per axis.
        RopeConfig::new(16)
            .with_layout(RopeLayout::Interleaved)
            .with_position_axes(Some(Sections(vec![2, 3, 3]))),
        // 2-D, alternating pairs, with a scaling.
        RopeConfig::new(24)
            .with_layout(RopeLayout::Interleaved)
            .with_scaling(RopeScaling::Linear { factor: 2.0 })
            .with_position_axes(Some(PerPair(vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]))),
        // The image / video families' constructors, small heads.
        RopeConfig::flux(10_000.0, &[4, 6, 6]).unwrap(),
        RopeConfig::wan(24, 10_000.0).unwrap(),
        RopeConfig::vision_2d(20, 10_000.0).unwrap(),
        // A ViT whose last channels pass through.
        RopeConfig::per_axis(
            40,
            &[AxisFrequencies {
                dim: 12,
                theta: 100.0,
            }; 2],
            RopeLayout::Half,
        )
        .unwrap(),
    ]
}

/// Random coordinates `[axes, rows, seq]` below `bound`.
fn coords(axes: usize, rows: usize, seq: usize, bound: u64, rng: &mut Rng) -> Vec<i64> {
    (0..axes * rows * seq)
        .map(|_| rng.below(bound) as i64)
        .collect()
}

fn oracle_of(config: &RopeConfig) -> (Vec<f64>, f64) {
    let freqs = config.frequencies(None);
    (freqs.inv_freq, freqs.attention_factor)
}

/// Outputs equal the float64 oracle at random coordinates up to 2^20 on every axis, with the
/// coordinates per batch row or shared, in both axis orders.
pub fn axes_match_f64_oracle(device: &Device) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in axis_configs() {
        let rope = config.init(device);
        let pair_axes = config.pair_axes().unwrap();
        let (inv_freq, attention_factor) = oracle_of(&config);
        let oracle = Oracle {
            inv_freq: &inv_freq,
            attention_factor,
            layout: config.layout,
            head_dim: config.head_dim,
        };
        let axes = config.axes();
        for rows in [1, 2] {
            let dims = [2, 3, 5, config.head_dim];
            let (batch, seq) = (dims[0], dims[2]);
            let ids = coords(axes, rows, seq, 1 << 20, &mut rng);
            let positions = Positions::axes_from_slice(&ids, [axes, rows, seq], device);
            let at = |b: usize, s: usize, i: usize| {
                let row = if rows == 1 { 0 } else { b };
                ids[(pair_axes[i] * rows + row) * seq + s] as u64
            };
            let x = normal(dims, device);
            let expected = oracle.rotate_pairs(&values(x.clone()), dims, at);
            let out = values(rope.apply(x.clone(), &positions, AxisOrder::Bhsd));
            assert_close(&out, &expected, 2e-5, &format!("{config:?} rows {rows}"));
            // The same through [b, s, h, d] and a device tensor of coordinates.
            let device_ids = Tensor::<3, Int>::from_data(
                TensorData::new(ids.clone(), [axes, rows, seq]),
                device,
            );
            let out = rope.apply(
                x.swap_dims(1, 2),
                &Positions::axes(device_ids),
                AxisOrder::Bshd,
            );
            assert_close(
                &values(out.swap_dims(1, 2)),
                &expected,
                2e-5,
                &format!("{config:?} rows {rows} bshd"),
            );
            assert_eq!(batch, 2);
        }
    }
}

/// A decode step (one token, coordinates shared by the batch or one row each) equals the
/// float64 oracle on the fast path and on the tensor-op path alike: the random shapes of the
/// other tests reach `seq = 1` with shared coordinates only now and then.
pub fn axes_decode_step_matches_f64_oracle(device: &Device) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in axis_configs() {
        let (pair_axes, (inv_freq, attention_factor)) =
            (config.pair_axes().unwrap(), oracle_of(&config));
        let oracle = Oracle {
            inv_freq: &inv_freq,
            attention_factor,
            layout: config.layout,
            head_dim: config.head_dim,
        };
        let (axes, dims) = (config.axes(), [3, 2, 1, config.head_dim]);
        for rows in [1, dims[0]] {
            let ids = coords(axes, rows, 1, 1 << 20, &mut rng);
            let positions = Positions::axes_from_slice(&ids, [axes, rows, 1], device);
            let at = |b: usize, _, i: usize| ids[pair_axes[i] * rows + b % rows] as u64;
            let x = normal(dims, device);
            let expected = oracle.rotate_pairs(&values(x.clone()), dims, at);
            for tensor_ops in [false, true] {
                let rope = config.init(device).with_tensor_ops(tensor_ops);
                let out = values(rope.apply(x.clone(), &positions, AxisOrder::Bhsd));
                let what = format!("tensor ops {tensor_ops}, rows {rows}, ids {ids:?}: {config:?}");
                assert_close(&out, &expected, 2e-5, &what);
            }
        }
    }
}

/// The device's own path equals the tensor-op path for q and k with GQA, both axis orders,
/// inputs stored in `dtype`.
pub fn axes_fast_path_matches_tensor_ops(device: &Device, dtype: DType) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in axis_configs() {
        let (fast, slow) = (
            config.init(device),
            config.init(device).with_tensor_ops(true),
        );
        let d = config.head_dim;
        let (batch, seq) = (1 + rng.below(3) as usize, 1 + rng.below(20) as usize);
        let rows = if rng.below(2) == 0 { 1 } else { batch };
        let ids = coords(config.axes(), rows, seq, 1 << 20, &mut rng);
        let positions = Positions::axes_from_slice(&ids, [config.axes(), rows, seq], device);
        for axes in [AxisOrder::Bhsd, AxisOrder::Bshd] {
            let shape = |heads| axes.dims(batch, heads, seq, d);
            let q = normal(shape(6), device).cast(dtype);
            let k = normal(shape(2), device).cast(dtype);
            let (fq, fk) = fast.apply_qk(q.clone(), k.clone(), &positions, axes);
            let (sq, sk) = slow.apply_qk(q, k, &positions, axes);
            let (sq, sk) = (values(sq), values(sk));
            let largest = sq.iter().chain(&sk).fold(0.0f64, |m, v| m.max(v.abs()));
            let tol = tolerance(dtype, largest);
            let what = format!("{dtype:?} {axes:?} {config:?}");
            assert_close(&values(fq), &sq, tol, &format!("q {what}"));
            assert_close(&values(fk), &sk, tol, &format!("k {what}"));
        }
    }
}

/// Norm preserved (attention factor 1), inverse restores the input, equal coordinates on every
/// axis give plain RoPE, and `<R(m) q, R(n) k>` depends only on `m - n` on each axis.
pub fn axes_properties(device: &Device) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in axis_configs() {
        let rope = config.init(device);
        let (axes, d, seq) = (config.axes(), config.head_dim, 6);
        let dims = [1, 2, seq, d];
        let ids = coords(axes, 1, seq, 1 << 16, &mut rng);
        let positions = Positions::axes_from_slice(&ids, [axes, 1, seq], device);
        let x = normal(dims, device);
        let y = rope.apply(x.clone(), &positions, AxisOrder::Bhsd);
        let a = oracle_of(&config).1;
        let norm = |t: Tensor<4>| values(t.powf_scalar(2.0).sum_dim(3));
        let scaled: Vec<f64> = norm(x.clone()).iter().map(|n| n * a * a).collect();
        assert_close(&norm(y.clone()), &scaled, 1e-4, &format!("norm {config:?}"));
        let back = rope.apply_inverse(y, &positions, AxisOrder::Bhsd);
        let expected: Vec<f64> = values(x.clone()).iter().map(|v| v * a * a).collect();
        assert_close(
            &values(back),
            &expected,
            1e-4,
            &format!("inverse {config:?}"),
        );

        // Equal coordinates on every axis: plain RoPE at those positions.
        let plain: Vec<i64> = ids[..seq].to_vec();
        let same: Vec<i64> = (0..axes).flat_map(|_| plain.iter().copied()).collect();
        let on_axes = rope.apply(
            x.clone(),
            &Positions::axes_from_slice(&same, [axes, 1, seq], device),
            AxisOrder::Bhsd,
        );
        let single = RopeConfig {
            position_axes: None,
            ..config.clone()
        }
        .init(device);
        let plain = single.apply(
            x,
            &Positions::ids_from_slice(&plain, [1, seq], device),
            AxisOrder::Bhsd,
        );
        assert_close(
            &values(on_axes),
            &values(plain),
            1e-6,
            &format!("equal axes {config:?}"),
        );

        // Shifting one axis's coordinates of q and k alike leaves every <q_m, k_n> unchanged.
        // The scores are summed on the host in f64: a device matmul may run at lower precision
        // (on CUDA, f32 products erred by 4e-3 here) and would test the matmul, not RoPE.
        let (q, k) = (normal(dims, device), normal(dims, device));
        let scores = |ids: &[i64]| {
            let positions = Positions::axes_from_slice(ids, [axes, 1, seq], device);
            let (q, k) = rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
            let (q, k) = (values(q), values(k));
            let row = |t: &[f64], h: usize, s: usize| t[(h * seq + s) * d..][..d].to_vec();
            let mut out = Vec::with_capacity(dims[1] * seq * seq);
            for h in 0..dims[1] {
                for m in 0..seq {
                    for n in 0..seq {
                        let (qm, kn) = (row(&q, h, m), row(&k, h, n));
                        out.push(qm.iter().zip(&kn).map(|(a, b)| a * b).sum::<f64>());
                    }
                }
            }
            out
        };
        let before = scores(&ids);
        for axis in 0..axes {
            let shift = 1 + rng.below(50_000) as i64;
            let mut moved = ids.clone();
            moved[axis * seq..(axis + 1) * seq]
                .iter_mut()
                .for_each(|c| *c += shift);
            let largest = before.iter().fold(1.0f64, |m, v| m.max(v.abs()));
            assert_close(
                &scores(&moved),
                &before,
                2e-5 * largest,
                &format!("shift axis {axis} by {shift}: {config:?}"),
            );
        }
    }
}

/// A row with a coordinate out of range on any one axis is NaN (all of it, pass-through
/// included) and the other rows exact; a pair whose axis is out of range (through the backend
/// trait) is NaN; positions of the wrong form are a panic naming both shapes.
pub fn axes_out_of_range_are_nan(device: &Device) {
    fresh_seed(device);
    let config = RopeConfig::new(16)
        .with_rotary_dim(Some(12))
        .with_max_positions(4096)
        .with_position_axes(Some(PositionAxes::Sections(vec![2, 2, 2])));
    let (fast, slow) = (
        config.init(device),
        config.init(device).with_tensor_ops(true),
    );
    let seq = 4;
    // Row 1 is out of range on axis 2 only, row 3 negative on axis 0.
    let ids: Vec<i64> = vec![0, 1, 2, -1, 5, 6, 7, 8, 9, 4096, 11, 12];
    let positions = Positions::axes(Tensor::<3, Int>::from_data(
        TensorData::new(ids, [3, 1, seq]),
        device,
    ));
    let x = normal([1, 2, seq, 16], device);
    for rope in [&fast, &slow] {
        let out = rope.apply(x.clone(), &positions, AxisOrder::Bhsd);
        let out = values(out);
        for h in 0..2 {
            for s in 0..seq {
                let row = &out[(h * seq + s) * 16..(h * seq + s + 1) * 16];
                let bad = s == 1 || s == 3;
                assert!(
                    row.iter().all(|v| v.is_nan() == bad),
                    "head {h} row {s}: expected {} got {row:?}",
                    if bad { "all NaN" } else { "finite" }
                );
            }
        }
    }

    // Through the extension (and the tensor-op path) directly: a pair axis out of range makes
    // that pair NaN only.
    let freqs = config.frequencies(None);
    let table = burn_rotary::table::build_table(&freqs.inv_freq, 1.0, config.max_positions);
    let table = Tensor::<3>::from_data(table, (device, DType::F32));
    let ints = |v: Vec<i64>, n: usize| Tensor::<1, Int>::from_data(TensorData::new(v, [n]), device);
    let coords = Tensor::<3, Int>::from_data(
        TensorData::new(vec![3i64, 3, 3, 3, 3, 3], [3, 1, 2]),
        device,
    );
    let spec = RopeSpec {
        layout: RopeLayout::Half,
        rotary_dim: 12,
        axes: AxisOrder::Bhsd,
        inverse: false,
        max_positions: config.max_positions,
    };
    let x = normal([1, 1, 2, 16], device);
    let run = |fast: bool| {
        let positions = PositionTensors::Axes {
            ids: coords.clone(),
            pair_axes: ints(vec![0, 0, 1, 7, 2, -1], 6),
        };
        let (x, table) = (x.clone(), table.clone());
        values(if fast {
            extension::rope(x, table, positions, spec)
        } else {
            burn_rotary::reference::rope(x, table, positions, spec)
        })
    };
    for (path, out) in [("fast path", run(true)), ("tensor ops", run(false))] {
        for row in out.chunks(16) {
            // Pairs 3 and 5 are (3, 9) and (5, 11).
            for (e, v) in row.iter().enumerate() {
                let bad = matches!(e, 3 | 5 | 9 | 11);
                assert!(v.is_nan() == bad, "{path}: element {e} = {v} (row {row:?})");
            }
        }
    }

    // Wrong forms: one-axis ids, or the wrong number of axes.
    let x = normal([1, 2, seq, 16], device);
    let message = panic_message(|| {
        let ids = Positions::ids_from_slice(&[0, 1, 2, 3], [1, seq], device);
        fast.apply(x.clone(), &ids, AxisOrder::Bhsd);
    });
    assert!(
        message.contains("[3, 1, 4]") && message.contains("[1, 4]"),
        "{message}"
    );
    let message = panic_message(|| {
        let ids = Positions::axes_from_slice(&[0; 8], [2, 1, seq], device);
        fast.apply(x.clone(), &ids, AxisOrder::Bhsd);
    });
    assert!(
        message.contains("[3, 1, 4]") && message.contains("[2, 1, 4]"),
        "{message}"
    );
}

/// On an autodiff `device`: gradients through multi-axis RoPE equal the tensor-op path's own
/// autodiff for q and k with GQA, and the gradient of q is the transpose rotation of the
/// upstream weights.
pub fn axes_gradients(device: &Device) {
    assert!(
        device.is_autodiff(),
        "axes_gradients needs an autodiff device"
    );
    let mut rng = Rng::new(fresh_seed(device));
    for config in axis_configs() {
        let d = config.head_dim;
        let (q, k) = (normal([2, 4, 5, d], device), normal([2, 2, 5, d], device));
        let (wq, wk) = (normal([2, 4, 5, d], device), normal([2, 2, 5, d], device));
        let ids = coords(config.axes(), 2, 5, 1 << 18, &mut rng);
        let positions = Positions::axes_from_slice(&ids, [config.axes(), 2, 5], device);
        let grads_of = |tensor_ops: bool| {
            let rope = config.init(device).with_tensor_ops(tensor_ops);
            let (q, k) = (q.clone().require_grad(), k.clone().require_grad());
            let (qo, ko) = rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
            let grads = ((qo * wq.clone()).sum() + (ko * wk.clone()).sum()).backward();
            (
                values(q.grad(&grads).unwrap()),
                values(k.grad(&grads).unwrap()),
            )
        };
        let ((gq, gk), (oq, ok)) = (grads_of(false), grads_of(true));
        assert_close(&gq, &oq, 1e-5, &format!("dq {config:?}"));
        assert_close(&gk, &ok, 1e-5, &format!("dk {config:?}"));
        // The loss is linear in q: its gradient is the transpose rotation of the weights.
        let rope = config.init(device);
        let expected = rope.apply_inverse(wq.clone(), &positions, AxisOrder::Bhsd);
        assert_close(
            &gq,
            &values(expected),
            1e-5,
            &format!("dq = R^T wq {config:?}"),
        );
    }
}
