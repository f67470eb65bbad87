//! Model-level HF parity: every case of `tests/fixtures/hf_models_public.json` (a model's
//! `config.json`, one of its layers, HF's outputs) passes on the device.

use burn::tensor::Device;
use burn_rotary_suite::hf_models_fixture::ModelsFixture;

use crate::suite::fixture;

/// Every case of HF's model-level golden file passes on this device: outputs within 2e-3 of
/// HF's, and RoPE / NoPE per layer as HF decides.
pub fn hf_models_parity(device: &Device) {
    let path = fixture!("hf_models_public.json");
    let text = std::fs::read_to_string(path).unwrap();
    let fixture: ModelsFixture = serde_json::from_str(&text).unwrap();
    assert!(!fixture.cases.is_empty());
    for case in &fixture.cases {
        let errors = case
            .check(device)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(errors.passed(), "{}: {errors:?}", case.name);
    }
}
