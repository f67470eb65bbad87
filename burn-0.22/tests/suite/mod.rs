//! The RoPE test suite: every body takes the [`Device`] it runs on (Burn 0.22 picks the backend
//! from the device) and is registered for each device this build has by `device_tests!` in
//! `tests/devices.rs`.

pub mod axes;
pub mod bounds;
pub mod extension;
pub mod fast_path;
pub mod gradients;
pub mod migration;
pub mod oracle;
pub mod properties;
pub mod train;

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;
use burn_rotary::{Llama3Scaling, YarnScaling};
use burn_rotary_suite::hf_fixture::Fixture;

pub use axes::{
    axes_decode_step_matches_f64_oracle, axes_fast_path_matches_tensor_ops, axes_gradients,
    axes_match_f64_oracle, axes_out_of_range_are_nan, axes_properties,
};
pub use bounds::{
    degenerate_shapes, host_positions_out_of_range_panic, out_of_range_positions_are_nan,
};
pub use extension::pitched_table_rows;
pub use fast_path::{
    bench_sized_matches_tensor_ops, every_element_written, fast_path_matches_tensor_ops,
    half_precision_storage,
};
pub use gradients::{gradients, gradients_qk_gqa_strided};
pub use migration::migrates_from_burn_nn;
pub use properties::{
    angles_exact_at_long_positions, gqa_and_axis_orders, inverse_restores_input,
    length_dependent_scalings, matches_f64_oracle, offsets_equal_position_ids,
    packed_equals_documents_apart, partial_rotary_and_empty, preserves_norm,
    relative_position_invariance,
};
pub use train::train_loss_falls;

thread_local! {
    /// The state of [`normal`]'s generator, set by [`fresh_seed`] for the running test.
    static NORMAL_STATE: std::cell::Cell<u64> = const { std::cell::Cell::new(0x9E37_79B9) };
}

/// A fresh seed for the running test (replayable through the harness), seeding the device and
/// [`normal`]'s host generator, so a failing test's inputs can be drawn again.
pub fn fresh_seed(device: &Device) -> u64 {
    let seed = crate::harness::seed();
    device.seed(seed);
    NORMAL_STATE.with(|s| s.set(seed));
    seed
}

/// A tiny host PRNG (xorshift) for positions, seeded like the device.
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
/// depend on which other tests share the device's global generator).
pub fn normal(dims: [usize; 4], device: &Device) -> Tensor<4> {
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

pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().unwrap()
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

pub(crate) fn ids(values: Vec<i64>, dims: [usize; 2], device: &Device) -> Tensor<2, Int> {
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

/// The path of a fixture file: the Burn 0.21 line's `tests/fixtures`, read in place (no copy to
/// keep in sync).
macro_rules! fixture {
    ($file:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/", $file)
    };
}
pub(crate) use fixture;

/// Every case of HF's golden file passes on this device.
pub fn hf_fixture_parity(device: &Device) {
    let path = fixture!("hf_rope_public.json");
    let fixture = Fixture::load(path).unwrap();
    assert!(!fixture.cases.is_empty());
    for case in &fixture.cases {
        let errors = case
            .check(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(errors.passed(), "{}: {errors:?}", case.name);
    }
}

/// Every case of the image / video golden file passes on this device.
pub fn nd_fixture_parity(device: &Device) {
    use burn_rotary_suite::nd_fixture::{NdFixture, OUTPUT_TOLERANCE};
    let path = fixture!("nd_rope_public.json");
    let fixture = NdFixture::load(path).unwrap();
    for case in &fixture.cases {
        let error = case
            .check(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(
            error <= OUTPUT_TOLERANCE,
            "{}: max abs error {error:e}",
            case.name
        );
    }
}
