//! Gradients through `Rope` on an autodiff device (`device.autodiff()`, and with balanced
//! gradient checkpointing): finite differences, the tensor-op path's own autodiff, q and k in
//! one call with GQA, and strided upstream gradients.

use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;
use burn_rotary::{PositionTensors, RopeSpec};

use super::fast_path::tolerance;
use super::{Rng, assert_close, configs, fresh_seed, normal, values};

/// On an autodiff `device`: autodiff gradients equal finite differences and the tensor-op
/// path's own autodiff (Burn's autodiff through [`burn_rotary::reference::rope`]).
pub fn gradients(device: &Device) {
    assert!(device.is_autodiff(), "gradients needs an autodiff device");
    let mut rng = Rng::new(fresh_seed(device));
    for config in configs() {
        let rope = config.init(device);
        let dims = [2, 3, 4, config.head_dim];
        let x = normal(dims, device).require_grad();
        let w = normal(dims, device);
        let pos = Positions::offset(31_000);
        let loss = |x: Tensor<4>| (rope.apply(x, &pos, AxisOrder::Bhsd) * w.clone()).sum();
        let grads = loss(x.clone()).backward();
        let grad = values(x.grad(&grads).unwrap());

        // The loss is linear in x, so central differences are exact up to rounding.
        let x_host = values(x.clone().inner());
        let eps = 0.5;
        for _ in 0..6 {
            let i = rng.below(x_host.len() as u64) as usize;
            let at = |delta: f64| {
                let mut v: Vec<f32> = x_host.iter().map(|&e| e as f32).collect();
                v[i] += delta as f32;
                values(loss(Tensor::from_data(TensorData::new(v, dims), device)))[0]
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            assert!(
                (fd - grad[i]).abs() < 2e-3 * (1.0 + fd.abs()),
                "d/dx[{i}]: fd {fd} vs {}",
                grad[i]
            );
        }

        // Same gradient through the tensor-op oracle, differentiated by Burn's autodiff.
        let freqs = config.frequencies(None);
        let table = burn_rotary::table::build_table(
            &freqs.inv_freq,
            freqs.attention_factor,
            config.max_positions,
        );
        let table = Tensor::<3>::from_data(table, (device, DType::F32));
        let spec = RopeSpec {
            layout: config.layout,
            rotary_dim: config.rotary_dim(),
            axes: AxisOrder::Bhsd,
            inverse: false,
            max_positions: config.max_positions,
        };
        let x_ref = Tensor::<4>::from_data(x.to_data(), device).require_grad();
        let out = burn_rotary::reference::rope(
            x_ref.clone(),
            table,
            PositionTensors::Offset(31_000),
            spec,
        );
        let grads = (out * w).sum().backward();
        assert_close(
            &values(x_ref.grad(&grads).unwrap()),
            &grad,
            1e-5,
            "grad vs tensor-op autodiff",
        );
    }
}

/// On an autodiff `device`, inputs stored in `dtype`: `apply_qk` with GQA, with a strided
/// upstream gradient for k (what an attention backward hands over for dK: the transpose of a
/// `[b, h, d, s]` tensor), equals the tensor-op path's autodiff within `dtype`'s tolerance.
pub fn gradients_qk_gqa_strided(device: &Device, dtype: DType) {
    assert!(
        device.is_autodiff(),
        "gradients_qk_gqa_strided needs an autodiff device"
    );
    fresh_seed(device);
    for config in configs() {
        let d = config.head_dim;
        let input = |dims| normal(dims, device).cast(dtype);
        let (q, k) = (input([2, 6, 5, d]), input([2, 2, 5, d]));
        let (wq, wk) = (input([2, 6, 5, d]), input([2, 2, d, 5]));
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(vec![3i64, 900, 1500, 2, 70_000, 0, 1, 2, 3, 4], [2, 5]),
            device,
        );
        let positions = Positions::ids(ids);
        let grads_of = |tensor_ops: bool| {
            let rope = config.init(device).with_tensor_ops(tensor_ops);
            let (q, k) = (q.clone().require_grad(), k.clone().require_grad());
            let (qo, ko) = rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
            // d(loss)/d(ko) = wk.swap_dims(2, 3): last axis strided. The sums run in f32
            // (a half-precision sum to a scalar would round the loss, not test RoPE).
            let sum = |t: Tensor<4>| t.cast(DType::F32).sum();
            let loss = sum(qo * wq.clone()) + sum(ko.swap_dims(2, 3) * wk.clone());
            let grads = loss.backward();
            (
                values(q.grad(&grads).unwrap()),
                values(k.grad(&grads).unwrap()),
            )
        };
        let ((gq, gk), (oq, ok)) = (grads_of(false), grads_of(true));
        let largest = oq.iter().chain(&ok).fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = tolerance(dtype, largest);
        assert_close(&gq, &oq, tol, &format!("dq {dtype:?} {config:?}"));
        assert_close(
            &gk,
            &ok,
            tol,
            &format!("dk (strided upstream) {dtype:?} {config:?}"),
        );
    }
}
