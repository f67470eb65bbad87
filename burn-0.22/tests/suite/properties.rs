//! Properties of one-axis RoPE on every path: the float64 oracle, exact angles at long
//! positions, norm and relative-position invariance, the position kinds against each other,
//! inverse, GQA and axis orders, partial rotary, length-dependent scalings.

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;

use super::oracle::Oracle;
use super::{Rng, assert_close, configs, fresh_seed, ids, normal, values};

/// Outputs equal the float64 oracle at random positions up to 2^20, for every config.
pub fn matches_f64_oracle(device: &Device) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in configs() {
        let rope = config.init(device);
        let dims = [2, 3, 5, config.head_dim];
        let x = normal(dims, device);
        let pos: Vec<i64> = (0..dims[0] * dims[2])
            .map(|_| rng.below(1 << 20) as i64)
            .collect();
        let positions = Positions::ids(ids(pos.clone(), [dims[0], dims[2]], device));
        let out = values(rope.apply(x.clone(), &positions, AxisOrder::Bhsd));
        let freqs = config.frequencies(None);
        let oracle = Oracle {
            inv_freq: &freqs.inv_freq,
            attention_factor: freqs.attention_factor,
            layout: config.layout,
            head_dim: config.head_dim,
        };
        let expected = oracle.rotate(&values(x), dims, |b, s| pos[b * dims[2] + s] as u64);
        assert_close(&out, &expected, 2e-5, &format!("{config:?}"));
    }
}

/// Rotating unit vectors recovers the angle `p * inv_freq` to 1e-5 rad up to position 2^20.
pub fn angles_exact_at_long_positions(device: &Device) {
    let d = 128;
    let config = RopeConfig::new(d).with_theta(10_000.0);
    let rope = config.init(device);
    let inv_freq = config.frequencies(None).inv_freq;
    let positions: Vec<i64> = vec![
        0,
        1,
        1023,
        1024,
        131_071,
        131_072,
        524_287,
        1_000_003,
        (1 << 20) - 1,
    ];
    let s = positions.len();
    // x1 = 1, x2 = 0 in every pair: the output pair is (cos t, sin t).
    let mut x = vec![0.0f32; s * d];
    for row in x.chunks_mut(d) {
        row[..d / 2].fill(1.0);
    }
    let x = Tensor::<4>::from_data(TensorData::new(x, [1, 1, s, d]), device);
    let out = values(rope.apply(
        x,
        &Positions::ids(ids(positions.clone(), [1, s], device)),
        AxisOrder::Bhsd,
    ));
    let mut worst = 0.0f64;
    for (row, p) in out.chunks(d).zip(&positions) {
        for (i, w) in inv_freq.iter().enumerate() {
            let got = row[i + d / 2].atan2(row[i]);
            let want = (*p as f64 * w).rem_euclid(std::f64::consts::TAU);
            let diff = (got - want).rem_euclid(std::f64::consts::TAU);
            worst = worst.max(diff.min(std::f64::consts::TAU - diff));
        }
    }
    assert!(worst < 1e-5, "angle error {worst:e} rad");
}

/// Without an attention factor, every head row keeps its norm.
pub fn preserves_norm(device: &Device) {
    fresh_seed(device);
    for config in configs()
        .into_iter()
        .filter(|c| c.frequencies(None).attention_factor == 1.0)
    {
        let dims = [2, 4, 7, config.head_dim];
        let x = normal(dims, device);
        let y = config.init(device).forward(x.clone(), 12_345);
        let norm = |t: Tensor<4>| values(t.powf_scalar(2.0).sum_dim(3).sqrt());
        assert_close(&norm(y), &norm(x), 1e-4, "norm");
    }
}

/// `<R(m) q, R(n) k>` depends on `m - n` only.
pub fn relative_position_invariance(device: &Device) {
    let mut rng = Rng::new(fresh_seed(device));
    for config in configs() {
        let rope = config.init(device);
        let d = config.head_dim;
        let q = normal([1, 1, 1, d], device);
        let k = normal([1, 1, 1, d], device);
        let (m, n) = (rng.below(5000) as usize, rng.below(5000) as usize);
        let dot = |shift: usize| {
            let q = rope.forward(q.clone(), m + shift);
            let k = rope.forward(k.clone(), n + shift);
            values((q * k).sum())[0]
        };
        let base = dot(0);
        for shift in [1, 777, 65_536, 900_000] {
            let scale = base.abs().max(1.0);
            assert!(
                (dot(shift) - base).abs() < 1e-4 * scale,
                "{config:?}: shift {shift}"
            );
        }
    }
}

/// An offset, per-sequence offsets and explicit ids give the same result.
pub fn offsets_equal_position_ids(device: &Device) {
    fresh_seed(device);
    let rope = RopeConfig::new(32).init(device);
    let (batch, seq) = (3, 6);
    let x = normal([batch, 2, seq, 32], device);
    let offset = 4093;
    let by_offset = values(rope.forward(x.clone(), offset));
    let ramp: Vec<i64> = (0..seq as i64).map(|s| offset as i64 + s).collect();
    let by_ids = rope.apply(
        x.clone(),
        &Positions::ids(ids(ramp, [1, seq], device)),
        AxisOrder::Bhsd,
    );
    assert_close(&values(by_ids), &by_offset, 1e-6, "offset vs ids");

    let starts = [0i64, 17, 100_000];
    let offsets = Tensor::<1, Int>::from_data(TensorData::new(starts.to_vec(), [batch]), device);
    let per_seq = rope.apply(x.clone(), &Positions::offsets(offsets), AxisOrder::Bhsd);
    let all_ids: Vec<i64> = starts
        .iter()
        .flat_map(|o| (0..seq as i64).map(move |s| o + s))
        .collect();
    let by_ids = rope.apply(
        x,
        &Positions::ids(ids(all_ids, [batch, seq], device)),
        AxisOrder::Bhsd,
    );
    assert_close(&values(per_seq), &values(by_ids), 1e-6, "offsets vs ids");
}

/// A packed row (positions restarting at each document) equals its documents rotated apart,
/// with a length-dependent scaling choosing its frequencies from the longest document.
pub fn packed_equals_documents_apart(device: &Device) {
    fresh_seed(device);
    for config in [
        RopeConfig::new(32),
        RopeConfig::new(32)
            .with_max_position_embeddings(4)
            .with_scaling(RopeScaling::DynamicNtk { factor: 2.0 }),
    ] {
        let rope = config.init(device);
        let docs = [5usize, 1, 3];
        let seq: usize = docs.iter().sum();
        let x = normal([1, 2, seq, 32], device);
        let packed = rope.apply(
            x.clone(),
            &Positions::packed(&[docs.to_vec()], device),
            AxisOrder::Bhsd,
        );
        let cu = [0, 5, 6, 9];
        let by_cu = rope.apply(
            x.clone(),
            &Positions::from_cu_seqlens(&cu, device),
            AxisOrder::Bhsd,
        );
        let longest = Positions::offset(0).with_seq_len(5);
        let apart: Vec<Tensor<4>> = cu
            .windows(2)
            .map(|w| {
                rope.apply(
                    x.clone().narrow(2, w[0], w[1] - w[0]),
                    &longest,
                    AxisOrder::Bhsd,
                )
            })
            .collect();
        let apart = values(Tensor::cat(apart, 2));
        assert_close(&values(packed), &apart, 1e-6, &format!("packed {config:?}"));
        assert_close(
            &values(by_cu),
            &apart,
            1e-6,
            &format!("cu_seqlens {config:?}"),
        );
    }
}

/// The inverse rotation restores the input.
pub fn inverse_restores_input(device: &Device) {
    fresh_seed(device);
    for config in configs()
        .into_iter()
        .filter(|c| c.frequencies(None).attention_factor == 1.0)
    {
        let rope = config.init(device);
        let x = normal([2, 3, 9, config.head_dim], device);
        let positions = Positions::offset(70_000);
        let y = rope.apply(x.clone(), &positions, AxisOrder::Bhsd);
        let back = rope.apply_inverse(y, &positions, AxisOrder::Bhsd);
        assert_close(&values(back), &values(x), 1e-5, &format!("{config:?}"));
    }
}

/// q and k with different head counts, in one call, equal two single calls; and the
/// `[b, s, h, d]` order equals the `[b, h, s, d]` one transposed.
pub fn gqa_and_axis_orders(device: &Device) {
    fresh_seed(device);
    for config in configs() {
        let rope = config.init(device);
        let d = config.head_dim;
        let q = normal([2, 6, 5, d], device);
        let k = normal([2, 2, 5, d], device);
        let (qo, ko) = rope.forward_qk(q.clone(), k.clone(), 3);
        assert_close(
            &values(qo.clone()),
            &values(rope.forward(q.clone(), 3)),
            1e-6,
            "q",
        );
        assert_close(
            &values(ko.clone()),
            &values(rope.forward(k.clone(), 3)),
            1e-6,
            "k",
        );

        let pos = Positions::offset(3);
        let (qs, ks) = rope.apply_qk(q.swap_dims(1, 2), k.swap_dims(1, 2), &pos, AxisOrder::Bshd);
        assert_close(&values(qs.swap_dims(1, 2)), &values(qo), 1e-6, "q bshd");
        assert_close(&values(ks.swap_dims(1, 2)), &values(ko), 1e-6, "k bshd");
    }
}

/// Dims past `rotary_dim` pass through unchanged, and an empty sequence is fine.
pub fn partial_rotary_and_empty(device: &Device) {
    fresh_seed(device);
    let rope = RopeConfig::new(48).with_rotary_dim(Some(16)).init(device);
    let x = normal([1, 2, 4, 48], device);
    let y = rope.forward(x.clone(), 9);
    assert_close(
        &values(y.narrow(3, 16, 32)),
        &values(x.narrow(3, 16, 32)),
        0.0,
        "pass-through",
    );
    // Allocated, not uploaded: on CUDA, Burn 0.21 cannot upload a tensor with a zero-sized dim
    // before the last (CubeCL's copy rejects its zero strides, and the error fails the device's
    // next reads, in whichever test makes them).
    let empty = Tensor::<4>::empty([1, 2, 0, 48], device);
    assert_eq!(rope.forward(empty, 5).dims(), [1, 2, 0, 48]);
}

/// Length-dependent scalings switch frequencies with the sequence length, as HF does.
pub fn length_dependent_scalings(device: &Device) {
    fresh_seed(device);
    let dynamic = RopeConfig::new(32)
        .with_max_position_embeddings(256)
        .with_scaling(RopeScaling::DynamicNtk { factor: 2.0 });
    let rope = dynamic.init(device);
    for (offset, seq) in [(0usize, 200usize), (0, 300), (1000, 50)] {
        let x = normal([1, 2, seq, 32], device);
        let expected = dynamic
            .clone()
            .with_inv_freq(Some(dynamic.frequencies(Some(offset + seq)).inv_freq))
            .init(device)
            .forward(x.clone(), offset);
        assert_close(
            &values(rope.forward(x, offset)),
            &values(expected),
            1e-6,
            "dynamic",
        );
    }
}
