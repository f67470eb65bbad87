//! Migrating from burn-nn 0.22's `RotaryEncoding`: the documented replacement gives burn-nn's
//! numbers, to within burn-nn's own error against the float64 oracle. With
//! `BURN_ROTARY_REPORT=1` it prints both errors (the README's figures).

use burn::nn::RotaryEncodingConfig;
use burn::tensor::{Device, Tensor};
use burn_rotary::prelude::*;

use super::oracle::Oracle;
use super::{fresh_seed, max_abs_diff, normal, values};

/// `RotaryEncodingConfig::new(max_len, d).with_theta(θ)` + `apply(x, start)` equals
/// `RopeConfig::new(d).with_theta(θ).with_layout(Interleaved)` + `forward(x, start)` for
/// 4-D, 3-D and 2-D inputs, within burn-nn's error (its angles are f32 products); the default
/// `Half` layout gives other numbers.
pub fn migrates_from_burn_nn(device: &Device) {
    fresh_seed(device);
    let (d, seq, theta) = (32, 7, 10_000.0);
    for start in [0, 5, 4000, 60_000] {
        let nn = RotaryEncodingConfig::new(start + seq, d)
            .with_theta(theta as f32)
            .init(device);
        let config = RopeConfig::new(d)
            .with_theta(theta)
            .with_layout(RopeLayout::Interleaved);
        let rope = config.init(device);
        let freqs = config.frequencies(None);
        let oracle = Oracle {
            inv_freq: &freqs.inv_freq,
            attention_factor: freqs.attention_factor,
            layout: config.layout,
            head_dim: d,
        };
        let dims = [2, 3, seq, d];
        let x4 = normal(dims, device);
        let expected = oracle.rotate(&values(x4.clone()), dims, |_, s| (start + s) as u64);
        let x3: Tensor<3> = x4.clone().reshape([6, seq, d]);
        let x2: Tensor<2> = x4.clone().reshape([6 * seq, d]).slice([0..seq, 0..d]);
        let cases = [
            (
                "4-D",
                values(nn.apply(x4.clone(), start)),
                values(rope.forward(x4.clone(), start)),
                expected.clone(),
            ),
            (
                "3-D",
                values(nn.apply(x3.clone(), start)),
                values(rope.forward(x3, start)),
                expected.clone(),
            ),
            (
                "2-D",
                values(nn.apply(x2.clone(), start)),
                values(rope.forward(x2, start)),
                expected[..seq * d].to_vec(),
            ),
        ];
        for (rank, burn_nn, ours, expected) in cases {
            let nn_error = max_abs_diff(&burn_nn, &expected);
            let our_error = max_abs_diff(&ours, &expected);
            let apart = max_abs_diff(&ours, &burn_nn);
            if std::env::var_os("BURN_ROTARY_REPORT").is_some() {
                eprintln!(
                    "{device:?} {rank} start {start}: max abs error vs float64, burn-nn \
                     {nn_error:.2e}, burn-rotary {our_error:.2e}"
                );
            }
            assert!(
                our_error <= 2e-5 && apart <= nn_error + 2e-5,
                "{rank} input at start {start}: burn-rotary vs burn-nn {apart:e}, burn-nn's own \
                 error {nn_error:e}, burn-rotary's {our_error:e}"
            );
        }
        let half = values(
            RopeConfig::new(d)
                .with_theta(theta)
                .init(device)
                .forward(x4, start),
        );
        let swapped = max_abs_diff(&half, &expected);
        if std::env::var_os("BURN_ROTARY_REPORT").is_some() {
            eprintln!("start {start}: the Half layout instead differs by {swapped:.2}");
        }
        assert!(
            swapped > 0.1,
            "the Half layout should pair other elements than burn-nn"
        );
    }
}
