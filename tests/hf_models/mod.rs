//! Model-level HF parity: every case of `tests/fixtures/hf_models_public.json` (a model's
//! `config.json`, one of its layers, HF's outputs) passes on the backend.

use burn_rotary::RopeBackend;
use burn_rotary_suite::hf_models_fixture::ModelsFixture;

/// Every case of HF's model-level golden file passes on this backend.
pub fn hf_models_parity<B: RopeBackend>(device: &B::Device) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hf_models_public.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let fixture: ModelsFixture = serde_json::from_str(&text).unwrap();
    assert!(!fixture.cases.is_empty());
    for case in &fixture.cases {
        let errors = case
            .check::<B>(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(errors.passed(), "{}: {errors:?}", case.name);
    }
}
