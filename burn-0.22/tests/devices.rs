//! Runs the suite of `tests/suite` on every device of this build: Flex and wgpu (Mesa's
//! lavapipe on a machine without a GPU) by default, CUDA with `--features cuda`; the autodiff
//! tests on `device.autodiff()`, and once with balanced gradient checkpointing. Tests are named
//! `device::test` (`flex::fast_path_matches_tensor_ops`). A device that cannot start on this
//! machine is skipped, loudly (see `tests/harness`); a test in a storage dtype the device does
//! not support (`Device::supports_dtype`) is listed as ignored with that reason.
//!
//! The Burn 0.21 suite (`../tests/backends.rs`) also ran, and this one drops:
//! - the NdArray, Candle and Router backends: Burn 0.22 has no Candle and no Router, and NdArray
//!   (deprecated) is not a feature of this line's suite — it would run the same tensor-op path
//!   that `with_tensor_ops(true)` already checks on every device here;
//! - the model-level suites `generate` and `llama` (KV-cache decoding and SmolLM2): their code is
//!   not on this line. The learner is, as one test (`train_loss_falls`, `src/train`);
//! - nothing else: every test of 0.21's `backend_tests!` list is here. The two that called the
//!   backend trait directly (`pitched_table_rows`, the pair-axis part of
//!   `axes_out_of_range_are_nan`) call the `RopeOps` extension on Burn's `Dispatch` backend
//!   (`suite/extension.rs`), the tensor-op oracle `reference::rope` on tensors. Tests that
//!   looped over the storage dtypes are split per dtype (`fast_path_matches_tensor_ops` for f32,
//!   `fast_path_matches_tensor_ops_f16`, `..._bf16`), so a dtype a device lacks is named, not
//!   silently skipped; `half_precision_storage` is `half_precision_storage_f16` / `_bf16`.

mod harness;
mod hf_models;
mod suite;

use harness::{Harness, Test};

/// One test per storage dtype: `$test` in f32, `${test}_f16`, `${test}_bf16`, each calling
/// `$path(&$device, dtype)`.
macro_rules! per_dtype {
    ($test:ident, $path:path, $device:expr) => {
        [
            per_dtype!(@one $test, "", F32, $path, $device),
            per_dtype!(@one $test, "_f16", F16, $path, $device),
            per_dtype!(@one $test, "_bf16", BF16, $path, $device),
        ]
    };
    (@half $test:ident, $path:path, $device:expr) => {
        [
            per_dtype!(@one $test, "_f16", F16, $path, $device),
            per_dtype!(@one $test, "_bf16", BF16, $path, $device),
        ]
    };
    (@one $test:ident, $suffix:literal, $dtype:ident, $path:path, $device:expr) => {
        Test::in_dtype(
            concat!(stringify!($test), $suffix),
            burn::tensor::DType::$dtype,
            || $path(&$device, burn::tensor::DType::$dtype),
        )
    };
}

/// The suite's tests on the device called `$name` (`device_choice::device`, the device the
/// harness probes): every body of `suite` registered for it.
macro_rules! device_tests {
    ($name:literal) => {{
        fn device() -> burn::tensor::Device {
            burn_rotary_suite::device_choice::device($name).expect("a device of this build")
        }
        fn autodiff() -> burn::tensor::Device {
            device().autodiff()
        }
        let plain = [
            suite_tests!(
                hf_fixture_parity, nd_fixture_parity, matches_f64_oracle,
                angles_exact_at_long_positions, preserves_norm, relative_position_invariance,
                offsets_equal_position_ids, packed_equals_documents_apart,
                inverse_restores_input, gqa_and_axis_orders, partial_rotary_and_empty,
                length_dependent_scalings, bench_sized_matches_tensor_ops,
                out_of_range_positions_are_nan, host_positions_out_of_range_panic,
                degenerate_shapes, axes_match_f64_oracle, axes_decode_step_matches_f64_oracle,
                axes_properties,
                axes_out_of_range_are_nan, migrates_from_burn_nn, pitched_table_rows,
                train_loss_falls
            ),
            vec![
                Test::new("hf_models_parity", || hf_models::hf_models_parity(&device())),
                Test::new("gradients", || suite::gradients(&autodiff())),
                Test::new("gradients_balanced_checkpointing", || {
                    suite::gradients(&autodiff().gradient_checkpointing())
                }),
                Test::new("axes_gradients", || suite::axes_gradients(&autodiff())),
            ],
        ];
        let dtyped = [
            per_dtype!(
                fast_path_matches_tensor_ops,
                suite::fast_path_matches_tensor_ops,
                device()
            ),
            per_dtype!(every_element_written, suite::every_element_written, device()),
            per_dtype!(
                axes_fast_path_matches_tensor_ops,
                suite::axes_fast_path_matches_tensor_ops,
                device()
            ),
            per_dtype!(gradients_qk_gqa_strided, suite::gradients_qk_gqa_strided, autodiff()),
        ];
        let half = per_dtype!(
            @half half_precision_storage,
            suite::half_precision_storage,
            device()
        );
        let mut tests: Vec<Test> = plain.into_iter().flatten().collect();
        tests.extend(dtyped.into_iter().flatten());
        tests.extend(half);
        tests
    }};
}

/// `suite::$test(&device())` for each name, as [`Test`]s (inside `device_tests!`).
macro_rules! suite_tests {
    ($($test:ident),* $(,)?) => {
        vec![$(Test::new(stringify!($test), || suite::$test(&device())),)*]
    };
}

fn main() {
    let mut harness = Harness::new("devices");
    #[cfg(feature = "flex")]
    harness.device("flex", &device_tests!("flex"));
    #[cfg(feature = "wgpu")]
    harness.device("wgpu", &device_tests!("wgpu"));
    #[cfg(feature = "cuda")]
    harness.device("cuda", &device_tests!("cuda"));
    harness.run()
}
