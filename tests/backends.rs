//! Runs the suite of `tests/suite` on every backend of this build: NdArray, wgpu, Candle, Flex
//! and a Router (NdArray + Flex) by default, CUDA with `--features cuda`, and the autodiff tests under `Autodiff` of each.
//! A backend that cannot start on this machine is skipped, loudly (see `tests/harness`). Then
//! the model-level suites, per backend: `train` (the learner, data parallelism, records),
//! `generate` (KV-cache decoding) and `llama` (SmolLM2 from its GGUF: transformers' logits, chat).

mod generate;
mod harness;
mod hf_models;
mod llama;
mod suite;
mod train;

use harness::Harness;

/// The suite's tests on backend `$backend`: every generic body of `suite` expanded for it.
macro_rules! backend_tests {
    (@tests $b:ty, $device:ident; $($test:ident),* ; $($name:ident: $body:expr),* $(,)?) => {
        [
            $((stringify!($test), (|| suite::$test::<$b>(&$device())) as fn()),)*
            $((stringify!($name), ($body) as fn()),)*
        ]
    };
    ($backend:ty) => {{
        use burn::backend::autodiff::checkpoint::strategy::BalancedCheckpointing;
        use burn::backend::Autodiff;
        type B = $backend;
        fn device() -> burn::tensor::Device<B> {
            Default::default()
        }
        backend_tests!(@tests B, device;
            hf_fixture_parity, nd_fixture_parity, matches_f64_oracle, angles_exact_at_long_positions,
            preserves_norm, relative_position_invariance, offsets_equal_position_ids,
            packed_equals_documents_apart,
            inverse_restores_input, gqa_and_axis_orders, partial_rotary_and_empty,
            length_dependent_scalings, fast_path_matches_tensor_ops, every_element_written,
            half_precision_storage, bench_sized_matches_tensor_ops, out_of_range_positions_are_nan,
            host_positions_out_of_range_panic, degenerate_shapes, axes_match_f64_oracle,
            axes_fast_path_matches_tensor_ops, axes_properties, axes_out_of_range_are_nan,
            migrates_from_burn_nn, pitched_table_rows;
            gradients: || suite::gradients::<Autodiff<B>>(&device()),
            hf_models_parity: || hf_models::hf_models_parity::<B>(&device()),
            gradients_qk_gqa_strided: || suite::gradients_qk_gqa_strided::<Autodiff<B>>(&device()),
            axes_gradients: || suite::axes_gradients::<Autodiff<B>>(&device()),
            gradients_balanced_checkpointing:
                || suite::gradients::<Autodiff<B, BalancedCheckpointing>>(&device()),
        )
    }};
}

fn main() {
    let mut harness = Harness::new("backends");
    #[cfg(feature = "ndarray")]
    harness.backend("ndarray", &backend_tests!(burn::backend::NdArray));
    #[cfg(feature = "wgpu")]
    harness.backend("wgpu", &backend_tests!(burn::backend::Wgpu));
    #[cfg(feature = "cuda")]
    harness.backend("cuda", &backend_tests!(burn::backend::Cuda));
    #[cfg(feature = "candle")]
    harness.backend(
        "candle",
        &backend_tests!(burn_rotary_suite::backend_choice::Candle),
    );
    #[cfg(feature = "flex")]
    harness.backend("flex", &backend_tests!(burn::backend::Flex));
    #[cfg(feature = "router")]
    harness.backend(
        "router",
        &backend_tests!(burn_rotary_suite::backend_choice::Router),
    );
    // The model-level suites: training, generation with a KV cache, the real model. One binary
    // for every backend suite: each test binary would instantiate the backends' code anew.
    train::register(&mut harness);
    generate::register(&mut harness);
    llama::register(&mut harness);
    harness.run()
}
