//! Runs the suite of `tests/suite` on every backend of this build: NdArray and wgpu by
//! default, CUDA with `--features cuda`, and the autodiff tests under `Autodiff` of each.

mod suite;

/// Expands every generic test body of the suite for one backend.
macro_rules! backend_suite {
    ($name:ident, $backend:ty) => {
        mod $name {
            use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
            use burn::backend::Autodiff;

            type B = $backend;

            fn device() -> burn::tensor::Device<B> {
                Default::default()
            }

            backend_suite!(@tests B, device;
                hf_fixture_parity, matches_f64_oracle, angles_exact_at_long_positions,
                preserves_norm, relative_position_invariance, offsets_equal_position_ids,
                inverse_restores_input, gqa_and_axis_orders, partial_rotary_and_empty,
                length_dependent_scalings, fast_path_matches_tensor_ops, every_element_written,
                half_precision_storage);

            #[test]
            fn gradients() {
                crate::suite::gradients::<Autodiff<B>>(&device());
            }

            #[test]
            fn gradients_balanced_checkpointing() {
                crate::suite::gradients::<Autodiff<B, BalancedCheckpointing>>(&device());
            }
        }
    };
    (@tests $b:ty, $device:ident; $($test:ident),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                crate::suite::$test::<$b>(&$device());
            }
        )*
    };
}

#[cfg(feature = "ndarray")]
backend_suite!(ndarray, burn::backend::NdArray);
#[cfg(feature = "wgpu")]
backend_suite!(wgpu, burn::backend::Wgpu);
#[cfg(feature = "cuda")]
backend_suite!(cuda, burn::backend::Cuda);
