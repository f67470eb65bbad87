//! The device's own RoPE (fused kernel on CubeCL devices, the direct loop on Flex) against the
//! tensor-op path it replaces. Tests that take a `dtype` run once per storage dtype the device
//! supports (`tests/devices.rs` lists the others as ignored, with the reason).

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;

use super::{Rng, assert_close, fresh_seed, normal, values};

/// One randomised case: shapes that are not powers of two, odd lengths, partial rotary.
struct Case {
    batch: usize,
    q_heads: usize,
    k_heads: usize,
    seq: usize,
    head_dim: usize,
    rotary_dim: usize,
    layout: RopeLayout,
}

fn cases(rng: &mut Rng) -> Vec<Case> {
    let mut cases = vec![
        Case {
            batch: 1,
            q_heads: 1,
            k_heads: 1,
            seq: 1,
            head_dim: 2,
            rotary_dim: 2,
            layout: RopeLayout::Half,
        },
        Case {
            batch: 2,
            q_heads: 5,
            k_heads: 1,
            seq: 13,
            head_dim: 64,
            rotary_dim: 64,
            layout: RopeLayout::Half,
        },
        Case {
            batch: 3,
            q_heads: 6,
            k_heads: 3,
            seq: 7,
            head_dim: 96,
            rotary_dim: 32,
            layout: RopeLayout::Interleaved,
        },
        Case {
            batch: 1,
            q_heads: 3,
            k_heads: 3,
            seq: 1,
            head_dim: 80,
            rotary_dim: 20,
            layout: RopeLayout::Half,
        },
        Case {
            batch: 2,
            q_heads: 4,
            k_heads: 2,
            seq: 33,
            head_dim: 6,
            rotary_dim: 6,
            layout: RopeLayout::Interleaved,
        },
    ];
    for _ in 0..4 {
        let head_dim = 2 * (1 + rng.below(40) as usize);
        let rotary_dim = 2 * (1 + rng.below(head_dim as u64 / 2) as usize);
        let k_heads = 1 + rng.below(4) as usize;
        cases.push(Case {
            batch: 1 + rng.below(3) as usize,
            q_heads: k_heads * (1 + rng.below(3) as usize),
            k_heads,
            seq: 1 + rng.below(40) as usize,
            head_dim,
            rotary_dim,
            layout: if rng.below(2) == 0 {
                RopeLayout::Half
            } else {
                RopeLayout::Interleaved
            },
        });
    }
    cases
}

fn positions(kind: u64, batch: usize, seq: usize, rng: &mut Rng, device: &Device) -> Positions {
    match kind {
        0 => Positions::offset(rng.below(1 << 19) as usize),
        1 => {
            let offsets: Vec<i64> = (0..batch).map(|_| rng.below(1 << 19) as i64).collect();
            Positions::offsets(Tensor::<1, Int>::from_data(
                TensorData::new(offsets, [batch]),
                device,
            ))
        }
        _ => {
            let rows = if kind == 2 { 1 } else { batch };
            let ids: Vec<i64> = (0..rows * seq).map(|_| rng.below(1 << 20) as i64).collect();
            Positions::ids(Tensor::<2, Int>::from_data(
                TensorData::new(ids, [rows, seq]),
                device,
            ))
        }
    }
}

/// How far two results computed in f32 from the same inputs may be apart once stored in
/// `dtype`: f32's arithmetic differences, or one rounding of each to the storage precision
/// (half an ulp at the largest magnitude, twice).
pub(super) fn tolerance(dtype: DType, largest: f64) -> f64 {
    let eps = match dtype {
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        _ => return 1e-5,
    };
    eps * largest.max(1.0)
}

/// Asserts `actual` equals `expected` within `dtype`'s [`tolerance`].
fn assert_matches(actual: Tensor<4>, expected: Tensor<4>, dtype: DType, what: &str) {
    assert_eq!(actual.dtype(), dtype, "{what}: output dtype");
    let expected = values(expected);
    let largest = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert_close(&values(actual), &expected, tolerance(dtype, largest), what);
}

/// Random shapes, both axis orders, every position kind, contiguous and strided inputs (a
/// transposed view, and one whose head dim is not contiguous), stored in `dtype`: the fast
/// path equals the tensor-op path within `dtype`'s [`tolerance`].
pub fn fast_path_matches_tensor_ops(device: &Device, dtype: DType) {
    let mut rng = Rng::new(fresh_seed(device));
    let cases = cases(&mut rng);
    // Half precision: the fixed cases, which cover every shape class.
    let count = if dtype == DType::F32 { cases.len() } else { 5 };
    for (i, case) in cases.iter().take(count).enumerate() {
        check_case(i, case, dtype, &mut rng, device);
    }
}

fn check_case(i: usize, case: &Case, dtype: DType, rng: &mut Rng, device: &Device) {
    let config = RopeConfig::new(case.head_dim)
        .with_rotary_dim(Some(case.rotary_dim))
        .with_layout(case.layout)
        .with_theta(10_000.0 * (1 + i) as f64);
    let rope = config.init(device);
    let oracle = config.init(device).with_tensor_ops(true);
    let &Case {
        batch,
        q_heads,
        k_heads,
        seq,
        head_dim,
        ..
    } = case;
    for kind in 0..4 {
        let pos = positions(kind, batch, seq, rng, device);
        for axes in [AxisOrder::Bhsd, AxisOrder::Bshd] {
            let shape = |heads| axes.dims(batch, heads, seq, head_dim);
            let contiguous = |heads| normal(shape(heads), device).cast(dtype);
            // A strided view: the transpose of a contiguous tensor of the other order.
            let transposed = |heads| {
                let [a, b, c, d] = shape(heads);
                normal([a, c, b, d], device).cast(dtype).swap_dims(1, 2)
            };
            // The head dim strided (the gradient of a transposed product).
            let head_dim_strided = |heads| {
                let [a, b, c, d] = shape(heads);
                normal([a, b, d, c], device).cast(dtype).swap_dims(2, 3)
            };
            for (layout, q, k) in [
                ("contiguous", contiguous(q_heads), contiguous(k_heads)),
                ("transposed", transposed(q_heads), transposed(k_heads)),
                (
                    "head dim strided",
                    head_dim_strided(q_heads),
                    head_dim_strided(k_heads),
                ),
            ] {
                let (qf, kf) = rope.apply_qk(q.clone(), k.clone(), &pos, axes);
                let (qo, ko) = oracle.apply_qk(q.clone(), k.clone(), &pos, axes);
                let what = format!("case {i} {dtype:?} kind {kind} {axes:?} {layout}");
                assert_matches(qf, qo.clone(), dtype, &what);
                assert_matches(kf, ko, dtype, &what);
                let single = rope.apply(q.clone(), &pos, axes);
                assert_matches(single, qo, dtype, &what);
            }
        }
    }
}

/// A benchmark-sized input, where each unit of the fused kernel loops over all 40 heads of
/// q and k: equal to the tensor-op path.
pub fn bench_sized_matches_tensor_ops(device: &Device) {
    fresh_seed(device);
    let config = RopeConfig::new(64).with_theta(500_000.0);
    let rope = config.init(device);
    let oracle = config.init(device).with_tensor_ops(true);
    let q = normal([1, 32, 2048, 64], device);
    let k = normal([1, 8, 2048, 64], device);
    let (qf, kf) = rope.forward_qk(q.clone(), k.clone(), 1000);
    let (qo, ko) = oracle.forward_qk(q, k, 1000);
    assert_matches(qf, qo, DType::F32, "q [1, 32, 2048, 64]");
    assert_matches(kf, ko, DType::F32, "k [1, 8, 2048, 64]");
}

/// Every output element is written, stored in `dtype`: outputs land in memory that held NaNs
/// just before, and equal the tensor-op path's.
pub fn every_element_written(device: &Device, dtype: DType) {
    fresh_seed(device);
    let config = RopeConfig::new(40)
        .with_rotary_dim(Some(24))
        .with_layout(RopeLayout::Interleaved);
    let rope = config.init(device);
    let oracle = config.init(device).with_tensor_ops(true);
    for _ in 0..3 {
        // Fill and free buffers of the output's size, so the allocator hands them out again.
        let poison = Tensor::<4>::full([3, 5, 17, 40], f32::NAN, device).cast(dtype);
        let _ = values(poison.clone().narrow(3, 0, 1));
        drop(poison);
        let x = normal([3, 5, 17, 40], device).cast(dtype);
        let out = rope.forward(x.clone(), 77);
        assert!(
            values(out.clone()).iter().all(|v| v.is_finite()),
            "{dtype:?}: an output element was not written"
        );
        assert_matches(
            out,
            oracle.forward(x, 77),
            dtype,
            &format!("poisoned {dtype:?}"),
        );
    }
}

/// Half-precision storage (`dtype`: f16 or bf16) stays within one rounding of the f32 result
/// computed from the same rounded inputs, and the output keeps `dtype`.
pub fn half_precision_storage(device: &Device, dtype: DType) {
    fresh_seed(device);
    let config = RopeConfig::new(64).with_theta(500_000.0);
    let rope = config.init(device);
    let eps = match dtype {
        DType::F16 => 2f64.powi(-10),
        DType::BF16 => 2f64.powi(-7),
        other => panic!("half_precision_storage: {other:?} is not a half-precision dtype"),
    };
    let x = normal([2, 4, 9, 64], device).cast(dtype);
    let reference = values(rope.forward(x.clone().cast(DType::F32), 100_000));
    let out = rope.forward(x, 100_000);
    assert_eq!(out.dtype(), dtype);
    // |out| <= |x| <= ~5: one rounding of the output is eps * 5 at most.
    assert_close(&values(out), &reference, 5.0 * eps, &format!("{dtype:?}"));
}
