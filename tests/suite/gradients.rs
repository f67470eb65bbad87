//! Gradients through `Rope` under `Autodiff`: finite differences, the tensor-op path's own
//! autodiff, q and k in one call with GQA, and strided upstream gradients.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData, TensorPrimitive};
use burn_rotary::RopeConfigExt;
use burn_rotary::{AxisOrder, Positions, PositionsPrimitive, RopeBackend, RopeSpec};

use super::fast_path::{dtypes, tolerance};
use super::{assert_close, configs, fresh_seed, normal, values, Rng};

/// Autodiff gradients equal finite differences and the tensor-op path's own autodiff.
pub fn gradients<B: AutodiffBackend + RopeBackend>(device: &B::Device) {
    let mut rng = Rng::new(fresh_seed::<B>(device));
    for config in configs() {
        let rope = config.init::<B>(device);
        let dims = [2, 3, 4, config.head_dim];
        let x = normal::<B>(dims, device).require_grad();
        let w = normal::<B>(dims, device);
        let pos = Positions::offset(31_000);
        let loss = |x: Tensor<B, 4>| (rope.apply(x, &pos, AxisOrder::Bhsd) * w.clone()).sum();
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
        let table = Tensor::<B, 3>::from_data(table, device);
        let spec = RopeSpec {
            layout: config.layout,
            rotary_dim: config.rotary_dim(),
            axes: AxisOrder::Bhsd,
            inverse: false,
            max_positions: config.max_positions,
        };
        let x_ref = Tensor::<B, 4>::from_data(x.to_data(), device).require_grad();
        let out = burn_rotary::reference::rope::<B>(
            x_ref.clone().into_primitive().tensor(),
            table.into_primitive().tensor(),
            PositionsPrimitive::Offset(31_000),
            spec,
        );
        let out = Tensor::<B, 4>::from_primitive(TensorPrimitive::Float(out));
        let grads = (out * w).sum().backward();
        assert_close(
            &values(x_ref.grad(&grads).unwrap()),
            &grad,
            1e-5,
            "grad vs tensor-op autodiff",
        );
    }
}

/// `apply_qk` with GQA under autodiff, with a strided upstream gradient for k (what an
/// attention backward hands over for dK: the transpose of a `[b, h, d, s]` tensor), equals the
/// tensor-op path's autodiff, in every storage dtype of the backend.
pub fn gradients_qk_gqa_strided<B: AutodiffBackend + RopeBackend>(device: &B::Device) {
    fresh_seed::<B>(device);
    for dtype in dtypes::<B>(device) {
        for config in configs() {
            let d = config.head_dim;
            let input = |dims| normal::<B>(dims, device).cast(dtype);
            let (q, k) = (input([2, 6, 5, d]), input([2, 2, 5, d]));
            let (wq, wk) = (input([2, 6, 5, d]), input([2, 2, d, 5]));
            let ids = Tensor::<B, 2, Int>::from_data(
                TensorData::new(vec![3i64, 900, 1500, 2, 70_000, 0, 1, 2, 3, 4], [2, 5]),
                device,
            );
            let positions = Positions::ids(ids);
            let grads_of = |tensor_ops: bool| {
                let rope = config.init::<B>(device).with_tensor_ops(tensor_ops);
                let (q, k) = (q.clone().require_grad(), k.clone().require_grad());
                let (qo, ko) = rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
                // d(loss)/d(ko) = wk.swap_dims(2, 3): last axis strided. The sums run in f32
                // (Candle 0.21 cannot sum an f16 tensor to a scalar: "expected F32, got F16").
                let sum = |t: Tensor<B, 4>| t.cast(DType::F32).sum();
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
}
