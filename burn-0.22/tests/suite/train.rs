//! The Learner example's run (`src/train`, `examples/train.rs`), shortened: on this device, the
//! validation loss of the copy task falls, and the run writes its config and weights into a
//! new folder while refusing one that holds anything.

use burn::tensor::Device;
use burn_rotary::RopeConfig;
use burn_rotary_suite::train::{TrainSettings, run};

/// One epoch of 2048 sequences (64 steps): the loss falls below 70 % of its start. Learning
/// token frequencies alone stops near `ln 14` on both halves (~2.6 from ~2.9); getting below
/// ~2.0 needs the copy half, i.e. attending `half + 1` positions back through the rotations.
pub fn train_loss_falls(device: &Device) {
    let seed = crate::harness::seed();
    let out = std::env::temp_dir().join(format!("burn-rotary-train-{}-{seed}", std::process::id()));
    let settings = TrainSettings {
        device: device.clone(),
        epochs: 1,
        train_items: 2048,
        valid_items: 64,
        batch_size: 32,
        half: 8,
        vocab_size: 16,
        lr: 3e-3,
        seed,
        rope: RopeConfig::new(16),
        out: out.clone(),
    };
    let summary = run(&settings).unwrap();
    assert!(
        summary.loss_after < 0.7 * summary.loss_before,
        "validation loss {} -> {}",
        summary.loss_before,
        summary.loss_after
    );
    for file in ["model.json", "model.bpk"] {
        assert!(
            out.join(file).is_file(),
            "{file} missing in {}",
            out.display()
        );
    }
    // The folder now holds a run: a second run into it is refused, and leaves it as it was.
    let before = std::fs::read(out.join("model.bpk")).unwrap();
    let error = run(&settings).unwrap_err();
    assert!(error.contains("not empty"), "{error}");
    assert_eq!(std::fs::read(out.join("model.bpk")).unwrap(), before);
    std::fs::remove_dir_all(&out).unwrap();
}
