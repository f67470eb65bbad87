//! The RoPE test suite: every body is generic over the backend and is expanded for each
//! backend this build has by `backend_suite!` in `tests/backends.rs`.

pub mod axes;
pub mod bounds;
pub mod fast_path;
pub mod gradients;
pub mod migration;
pub mod oracle;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::RopeConfigExt;
use burn_rotary::{
    AxisOrder, Llama3Scaling, Positions, RopeBackend, RopeConfig, RopeLayout, RopeScaling,
    YarnScaling,
};
use burn_rotary_suite::hf_fixture::Fixture;

pub use axes::{
    axes_fast_path_matches_tensor_ops, axes_gradients, axes_match_f64_oracle,
    axes_out_of_range_are_nan, axes_properties,
};
pub use bounds::{
    degenerate_shapes, host_positions_out_of_range_panic, out_of_range_positions_are_nan,
};
pub use fast_path::{
    bench_sized_matches_tensor_ops, every_element_written, fast_path_matches_tensor_ops,
    half_precision_storage, pitched_table_rows,
};
pub use gradients::{gradients, gradients_qk_gqa_strided};
pub use migration::migrates_from_burn_nn;
use oracle::Oracle;

thread_local! {
    /// The state of [`normal`]'s generator, set by [`fresh_seed`] for the running test.
    static NORMAL_STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0x9E37_79B9) };
}

/// A fresh seed for the running test (replayable through the harness), seeding the backend and
/// [`normal`]'s host generator, so a failing test's inputs can be drawn again.
pub fn fresh_seed<B: Backend>(device: &B::Device) -> u64 {
    let seed = crate::harness::seed();
    B::seed(device, seed);
    NORMAL_STATE.with(|s| s.set(seed));
    seed
}

/// A tiny host PRNG (xorshift) for positions, seeded like the backend.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Standard normal values drawn on the host from the running test's seed (so they do not
/// depend on which other tests share the backend's global generator).
pub fn normal<B: Backend>(dims: [usize; 4], device: &B::Device) -> Tensor<B, 4> {
    let count = dims.iter().product::<usize>();
    let values = NORMAL_STATE.with(|state| {
        let next = || {
            // SplitMix64, then a uniform in (0, 1].
            let z = state.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
            state.set(z);
            let mut z = z;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 + f64::EPSILON
        };
        (0..count)
            .map(|_| {
                let (u, v) = (next(), next());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
            })
            .collect::<Vec<f32>>()
    });
    Tensor::from_data(TensorData::new(values, dims), device)
}

pub fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
    t.into_data().convert::<f64>().to_vec::<f64>().unwrap()
}

/// [`compare::max_abs_diff`](burn_rotary_suite::compare::max_abs_diff) (a NaN wins and stays),
/// and 0 for two empty slices: the degenerate-shape tests compare empty outputs on purpose.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    if a.is_empty() {
        return 0.0;
    }
    burn_rotary_suite::compare::max_abs_diff(a, b).unwrap()
}

#[track_caller]
pub fn assert_close(actual: &[f64], expected: &[f64], tol: f64, what: &str) {
    let err = max_abs_diff(actual, expected);
    assert!(err <= tol, "{what}: max abs error {err:e} > {tol:e}");
}

fn ids<B: Backend>(values: Vec<i64>, dims: [usize; 2], device: &B::Device) -> Tensor<B, 2, Int> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

/// Configs that cover both layouts, partial rotary and the static scalings.
pub fn configs() -> Vec<RopeConfig> {
    vec![
        RopeConfig::new(64),
        RopeConfig::new(64)
            .with_layout(RopeLayout::Interleaved)
            .with_theta(500_000.0),
        RopeConfig::new(48).with_rotary_dim(Some(16)),
        RopeConfig::new(40)
            .with_rotary_dim(Some(24))
            .with_layout(RopeLayout::Interleaved),
        RopeConfig::new(32).with_scaling(RopeScaling::Linear { factor: 4.0 }),
        RopeConfig::new(32).with_scaling(RopeScaling::Ntk { factor: 8.0 }),
        RopeConfig::new(64).with_scaling(RopeScaling::Yarn(YarnScaling::new(8.0, 2048))),
        RopeConfig::new(64)
            .with_theta(500_000.0)
            .with_scaling(RopeScaling::Llama3(Llama3Scaling {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: 8192,
            })),
    ]
}

/// Every case of HF's golden file passes on this backend.
pub fn hf_fixture_parity<B: RopeBackend>(device: &B::Device) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf_rope_public.json"
    );
    let fixture = Fixture::load(path).unwrap();
    assert!(!fixture.cases.is_empty());
    for case in &fixture.cases {
        let errors = case
            .check::<B>(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(errors.passed(), "{}: {errors:?}", case.name);
    }
}

/// Every case of the image / video golden file passes on this backend.
pub fn nd_fixture_parity<B: RopeBackend>(device: &B::Device) {
    use burn_rotary_suite::nd_fixture::{NdFixture, OUTPUT_TOLERANCE};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/nd_rope_public.json"
    );
    let fixture = NdFixture::load(path).unwrap();
    for case in &fixture.cases {
        let error = case
            .check::<B>(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(
            error <= OUTPUT_TOLERANCE,
            "{}: max abs error {error:e}",
            case.name
        );
    }
}

/// Outputs equal the float64 oracle at random positions up to 2^20, for every config.
pub fn matches_f64_oracle<B: RopeBackend>(device: &B::Device) {
    let mut rng = Rng::new(fresh_seed::<B>(device));
    for config in configs() {
        let rope = config.init::<B>(device);
        let dims = [2, 3, 5, config.head_dim];
        let x = normal::<B>(dims, device);
        let pos: Vec<i64> = (0..dims[0] * dims[2])
            .map(|_| rng.below(1 << 20) as i64)
            .collect();
        let positions = Positions::ids(ids::<B>(pos.clone(), [dims[0], dims[2]], device));
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
pub fn angles_exact_at_long_positions<B: RopeBackend>(device: &B::Device) {
    let d = 128;
    let config = RopeConfig::new(d).with_theta(10_000.0);
    let rope = config.init::<B>(device);
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
    let x = Tensor::<B, 4>::from_data(TensorData::new(x, [1, 1, s, d]), device);
    let out = values(rope.apply(
        x,
        &Positions::ids(ids::<B>(positions.clone(), [1, s], device)),
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
pub fn preserves_norm<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    for config in configs()
        .into_iter()
        .filter(|c| c.frequencies(None).attention_factor == 1.0)
    {
        let dims = [2, 4, 7, config.head_dim];
        let x = normal::<B>(dims, device);
        let y = config.init::<B>(device).forward(x.clone(), 12_345);
        let norm = |t: Tensor<B, 4>| values(t.powf_scalar(2.0).sum_dim(3).sqrt());
        assert_close(&norm(y), &norm(x), 1e-4, "norm");
    }
}

/// `<R(m) q, R(n) k>` depends on `m - n` only.
pub fn relative_position_invariance<B: RopeBackend>(device: &B::Device) {
    let mut rng = Rng::new(fresh_seed::<B>(device));
    for config in configs() {
        let rope = config.init::<B>(device);
        let d = config.head_dim;
        let q = normal::<B>([1, 1, 1, d], device);
        let k = normal::<B>([1, 1, 1, d], device);
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
pub fn offsets_equal_position_ids<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    let rope = RopeConfig::new(32).init::<B>(device);
    let (batch, seq) = (3, 6);
    let x = normal::<B>([batch, 2, seq, 32], device);
    let offset = 4093;
    let by_offset = values(rope.forward(x.clone(), offset));
    let ramp: Vec<i64> = (0..seq as i64).map(|s| offset as i64 + s).collect();
    let by_ids = rope.apply(
        x.clone(),
        &Positions::ids(ids::<B>(ramp, [1, seq], device)),
        AxisOrder::Bhsd,
    );
    assert_close(&values(by_ids), &by_offset, 1e-6, "offset vs ids");

    let starts = [0i64, 17, 100_000];
    let offsets = Tensor::<B, 1, Int>::from_data(TensorData::new(starts.to_vec(), [batch]), device);
    let per_seq = rope.apply(x.clone(), &Positions::offsets(offsets), AxisOrder::Bhsd);
    let all_ids: Vec<i64> = starts
        .iter()
        .flat_map(|o| (0..seq as i64).map(move |s| o + s))
        .collect();
    let by_ids = rope.apply(
        x,
        &Positions::ids(ids::<B>(all_ids, [batch, seq], device)),
        AxisOrder::Bhsd,
    );
    assert_close(&values(per_seq), &values(by_ids), 1e-6, "offsets vs ids");
}

/// A packed row (positions restarting at each document) equals its documents rotated apart,
/// with a length-dependent scaling choosing its frequencies from the longest document.
pub fn packed_equals_documents_apart<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    for config in [
        RopeConfig::new(32),
        RopeConfig::new(32)
            .with_max_position_embeddings(4)
            .with_scaling(RopeScaling::DynamicNtk { factor: 2.0 }),
    ] {
        let rope = config.init::<B>(device);
        let docs = [5usize, 1, 3];
        let seq: usize = docs.iter().sum();
        let x = normal::<B>([1, 2, seq, 32], device);
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
        let apart: Vec<Tensor<B, 4>> = cu
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
pub fn inverse_restores_input<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    for config in configs()
        .into_iter()
        .filter(|c| c.frequencies(None).attention_factor == 1.0)
    {
        let rope = config.init::<B>(device);
        let x = normal::<B>([2, 3, 9, config.head_dim], device);
        let positions = Positions::offset(70_000);
        let y = rope.apply(x.clone(), &positions, AxisOrder::Bhsd);
        let back = rope.apply_inverse(y, &positions, AxisOrder::Bhsd);
        assert_close(&values(back), &values(x), 1e-5, &format!("{config:?}"));
    }
}

/// q and k with different head counts, in one call, equal two single calls; and the
/// `[b, s, h, d]` order equals the `[b, h, s, d]` one transposed.
pub fn gqa_and_axis_orders<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    for config in configs() {
        let rope = config.init::<B>(device);
        let d = config.head_dim;
        let q = normal::<B>([2, 6, 5, d], device);
        let k = normal::<B>([2, 2, 5, d], device);
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
pub fn partial_rotary_and_empty<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    let rope = RopeConfig::new(48)
        .with_rotary_dim(Some(16))
        .init::<B>(device);
    let x = normal::<B>([1, 2, 4, 48], device);
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
    let empty = Tensor::<B, 4>::empty([1, 2, 0, 48], device);
    assert_eq!(rope.forward(empty, 5).dims(), [1, 2, 0, 48]);
}

/// Length-dependent scalings switch frequencies with the sequence length, as HF does.
pub fn length_dependent_scalings<B: RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    let dynamic = RopeConfig::new(32)
        .with_max_position_embeddings(256)
        .with_scaling(RopeScaling::DynamicNtk { factor: 2.0 });
    let rope = dynamic.init::<B>(device);
    for (offset, seq) in [(0usize, 200usize), (0, 300), (1000, 50)] {
        let x = normal::<B>([1, 2, seq, 32], device);
        let expected = dynamic
            .clone()
            .with_inv_freq(Some(dynamic.frequencies(Some(offset + seq)).inv_freq))
            .init::<B>(device)
            .forward(x.clone(), offset);
        assert_close(
            &values(rope.forward(x, offset)),
            &values(expected),
            1e-6,
            "dynamic",
        );
    }
}
