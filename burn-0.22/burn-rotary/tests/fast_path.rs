//! The fast paths ([`RopeOps`] through Burn's `Dispatch`: the Flex loop, the fused CubeCL kernel
//! under Fusion) against the tensor-op oracle [`reference::rope`], in every dtype each device
//! has; out-of-range rows; gradients; element-wise ops fused around the call; the `Rope` module's
//! routing.
//!
//! Every test prints its seed first; `BURN_ROTARY_SEED=<seed>` replays it. Every call gets fresh
//! random inputs, so an output buffer left untouched by a kernel that failed to compile (whose
//! memory may hold an earlier, correct-looking result) cannot pass.
//!
//! Tolerances, `|fast - reference| <= tol * (1 + |reference|)`: both sides compute in `f32`
//! (`f64` for `f64`) from the same `f32` table with the same formula, so in `f32` they differ by
//! a few roundings (operation order, fused multiply-adds on a GPU): `1e-5`. In a half type both
//! round the same `f32` value, but a last-bit `f32` difference can flip that rounding by one
//! unit: `2^-10` relative for `f16`, `2^-7` for `bf16`; the tolerances are twice that.

use burn::backend::Dispatch;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;
use burn_rotary::table::build_table;
use burn_rotary::{PositionTensors, PositionsPrimitive, RopeOps, RopeSpec, reference};

/// splitmix64: small, seedable, the same numbers on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// A seeded generator; the seed is printed (replay with `BURN_ROTARY_SEED`).
fn rng(test: &str) -> Rng {
    let seed = std::env::var("BURN_ROTARY_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(1, |d| d.as_nanos() as u64)
        });
    println!("{test}: BURN_ROTARY_SEED={seed}");
    Rng(seed)
}

fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F16 => 2e-3,
        DType::BF16 => 1.6e-2,
        _ => 1e-5,
    }
}

/// The float dtypes the fast path supports that `device` has.
fn dtypes(device: &Device) -> Vec<DType> {
    [DType::F32, DType::F64, DType::F16, DType::BF16]
        .into_iter()
        .filter(|&d| device.supports_dtype(d))
        .collect()
}

fn random(rng: &mut Rng, dims: [usize; 4], device: &Device, dtype: DType) -> Tensor<4> {
    let values: Vec<f32> = (0..dims.iter().product()).map(|_| rng.uniform()).collect();
    Tensor::from_data(TensorData::new(values, dims), (device, dtype))
}

fn table(spec: &RopeSpec, attention_factor: f64, device: &Device) -> Tensor<3> {
    let half = spec.rotary_dim / 2;
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| 10000f64.powf(-2.0 * i as f64 / spec.rotary_dim.max(1) as f64))
        .collect();
    let data = build_table(&inv_freq, attention_factor, spec.max_positions);
    Tensor::from_data(data, (device, DType::F32))
}

fn int<const D: usize>(values: Vec<i64>, dims: [usize; D], device: &Device) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values, dims), device)
}

fn primitive(positions: PositionTensors) -> PositionsPrimitive<Dispatch> {
    match positions {
        PositionTensors::Offset(o) => PositionsPrimitive::Offset(o),
        PositionTensors::Offsets(t) => PositionsPrimitive::Offsets(t.into_dispatch()),
        PositionTensors::Ids(t) => PositionsPrimitive::Ids(t.into_dispatch()),
        PositionTensors::Axes { ids, pair_axes } => PositionsPrimitive::Axes {
            ids: ids.into_dispatch(),
            pair_axes: pair_axes.into_dispatch(),
        },
    }
}

/// The fast path of x's backend.
fn fast(x: Tensor<4>, table: &Tensor<3>, positions: &PositionTensors, spec: RopeSpec) -> Tensor<4> {
    let (x, table, positions) = (
        x.into_dispatch(),
        table.clone().into_dispatch(),
        positions.clone(),
    );
    Tensor::from_dispatch(<Dispatch as RopeOps>::rope(
        x,
        table,
        primitive(positions),
        spec,
    ))
}

fn fast_qk(
    q: Tensor<4>,
    k: Tensor<4>,
    table: &Tensor<3>,
    positions: &PositionTensors,
    spec: RopeSpec,
) -> (Tensor<4>, Tensor<4>) {
    let (q, k) = (q.into_dispatch(), k.into_dispatch());
    let (table, positions) = (table.clone().into_dispatch(), primitive(positions.clone()));
    let (q, k) = <Dispatch as RopeOps>::rope_qk(q, k, table, positions, spec);
    (Tensor::from_dispatch(q), Tensor::from_dispatch(k))
}

/// The tensor-op oracle.
fn oracle(
    x: Tensor<4>,
    table: &Tensor<3>,
    positions: &PositionTensors,
    spec: RopeSpec,
) -> Tensor<4> {
    reference::rope(x, table.clone(), positions.clone(), spec)
}

fn values(t: Tensor<4>) -> Vec<f64> {
    t.into_data().iter::<f64>().collect()
}

/// `fast` equals `reference` elementwise (NaN where the reference is NaN).
fn assert_close(what: &str, fast: Tensor<4>, reference: Tensor<4>, tol: f64) {
    assert_eq!(fast.dims(), reference.dims(), "{what}: shapes");
    let (f, r) = (values(fast), values(reference));
    assert_eq!(f.len(), r.len(), "{what}: lengths");
    for (i, (&f, &r)) in f.iter().zip(&r).enumerate() {
        let ok = if r.is_nan() {
            f.is_nan()
        } else {
            (f - r).abs() <= tol * (1.0 + r.abs())
        };
        assert!(
            ok,
            "{what}: element {i}: fast {f}, reference {r} (tolerance {tol})"
        );
    }
}

/// One randomised case.
#[derive(Debug, Clone, Copy)]
struct Case {
    /// batch, q heads, k heads, seq, head_dim, rotary_dim.
    dims: [usize; 6],
    layout: RopeLayout,
    axes: AxisOrder,
    /// 0 offset, 1 per-sequence offsets, 2 ids, 3 ids shared by the batch, 4 three axes.
    positions: usize,
    /// 0 contiguous, 1 a view with heads and seq swapped, 2 a view with head_dim not contiguous.
    strided: usize,
    inverse: bool,
}

fn cases(rng: &mut Rng) -> Vec<Case> {
    use AxisOrder::{Bhsd, Bshd};
    use RopeLayout::{Half, Interleaved};
    let c = |dims, layout, axes, positions, strided, inverse| Case {
        dims,
        layout,
        axes,
        positions,
        strided,
        inverse,
    };
    let mut cases = vec![
        c([1, 1, 1, 1, 2, 2], Half, Bhsd, 0, 0, false),
        c([2, 4, 2, 13, 64, 64], Half, Bshd, 1, 0, false),
        c([3, 6, 3, 7, 96, 32], Interleaved, Bhsd, 2, 1, false),
        c([2, 3, 1, 5, 80, 20], Half, Bhsd, 3, 2, true),
        c([2, 4, 2, 9, 32, 24], Interleaved, Bshd, 4, 0, false),
        c([2, 2, 2, 11, 16, 16], Interleaved, Bhsd, 0, 2, true),
    ];
    for _ in 0..4 {
        let (head_dim, k_heads) = (2 * (1 + rng.below(40)), 1 + rng.below(3));
        let dims = [
            1 + rng.below(3),
            k_heads * (1 + rng.below(3)),
            k_heads,
            1 + rng.below(20),
            head_dim,
            2 * (1 + rng.below(head_dim / 2)),
        ];
        let layout = [Half, Interleaved][rng.below(2)];
        let axes = [Bhsd, Bshd][rng.below(2)];
        cases.push(c(
            dims,
            layout,
            axes,
            rng.below(5),
            rng.below(3),
            rng.below(2) == 0,
        ));
    }
    cases
}

impl Case {
    fn spec(&self, max_positions: usize) -> RopeSpec {
        let (layout, rotary_dim, axes, inverse) =
            (self.layout, self.dims[5], self.axes, self.inverse);
        RopeSpec {
            layout,
            rotary_dim,
            axes,
            inverse,
            max_positions,
        }
    }

    /// Two independent tensors of the same random values, q's (`k = false`) or k's head count
    /// in this case's axis order, as this case's view.
    fn inputs(&self, rng: &mut Rng, k: bool, device: &Device, dtype: DType) -> [Tensor<4>; 2] {
        let [batch, q_heads, k_heads, seq, head_dim, _] = self.dims;
        let dims = self
            .axes
            .dims(batch, if k { k_heads } else { q_heads }, seq, head_dim);
        let (stored, swap) = match self.strided {
            0 => (dims, None),
            1 => ([dims[0], dims[2], dims[1], dims[3]], Some((1, 2))),
            _ => ([dims[0], dims[1], dims[3], dims[2]], Some((2, 3))),
        };
        let x = random(rng, stored, device, dtype).into_data();
        [0, 1].map(|_| {
            let x = Tensor::<4>::from_data(x.clone(), (device, dtype));
            swap.map_or(x.clone(), |(a, b)| x.swap_dims(a, b))
        })
    }

    /// Positions in `0..max`.
    fn positions(&self, rng: &mut Rng, max: usize, device: &Device) -> PositionTensors {
        let [b, _, _, s, _, rotary_dim] = self.dims;
        let mut ids = |n: usize| (0..n).map(|_| rng.below(max) as i64).collect::<Vec<_>>();
        match self.positions {
            0 => PositionTensors::Offset(rng.below(max - s + 1)),
            1 => {
                let offsets = (0..b).map(|_| rng.below(max - s + 1) as i64).collect();
                PositionTensors::Offsets(int(offsets, [b], device))
            }
            2 => PositionTensors::Ids(int(ids(b * s), [b, s], device)),
            3 => PositionTensors::Ids(int(ids(s), [1, s], device)),
            _ => {
                let half = rotary_dim / 2;
                let pair_axes = (0..half).map(|i| (i % 3) as i64).collect();
                PositionTensors::Axes {
                    ids: int(ids(3 * b * s), [3, b, s], device),
                    pair_axes: int(pair_axes, [half], device),
                }
            }
        }
    }
}

/// `rope` and `rope_qk` on the fast path equal the reference, for every case and dtype.
fn matches_reference(test: &str, device: &Device) {
    let mut rng = rng(test);
    let max = 3000; // Past FINE: coarse rows are used too.
    println!("{test}: dtypes {:?}", dtypes(device));
    for dtype in dtypes(device) {
        let tol = tolerance(dtype);
        for case in cases(&mut rng) {
            let what = format!("{test} {dtype:?} {case:?}");
            let spec = case.spec(max);
            let table = table(&spec, 0.5 + rng.uniform().abs() as f64, device);
            let positions = case.positions(&mut rng, max, device);
            // A uniquely owned input (rotated in place on Flex) ...
            let [x, x_ref] = case.inputs(&mut rng, false, device, dtype);
            let expected = oracle(x_ref, &table, &positions, spec);
            assert_close(&what, fast(x, &table, &positions, spec), expected, tol);
            // ... and shared ones (still held here), q and k in one call.
            let [q, _] = case.inputs(&mut rng, false, device, dtype);
            let [k, _] = case.inputs(&mut rng, true, device, dtype);
            let (q_out, k_out) = fast_qk(q.clone(), k.clone(), &table, &positions, spec);
            assert_close(
                &format!("{what} q"),
                q_out,
                oracle(q, &table, &positions, spec),
                tol,
            );
            assert_close(
                &format!("{what} k"),
                k_out,
                oracle(k, &table, &positions, spec),
                tol,
            );
        }
    }
}

/// Rows whose position is outside `0..max_positions` come out NaN (every element, the
/// pass-through dims too); the other rows equal the reference. A pair whose axis is out of
/// range is NaN in every row, and nothing else is.
fn out_of_range_rows_are_nan(test: &str, device: &Device) {
    let mut rng = rng(test);
    let (batch, heads, seq, head_dim, rotary_dim, max) = (2, 3, 8, 12, 8, 20);
    let coords: Vec<i64> = (0..2 * batch * seq).map(|i| (i % 8) as i64).collect();
    let mut far = coords.clone();
    (far[16 + 3], far[16 + 12]) = (20, -1);
    // Each: positions, the rows `b * seq + s` that must be NaN, the pairs that must be NaN.
    let variants = [
        (
            PositionTensors::Offset(15),
            vec![5, 6, 7, 13, 14, 15],
            vec![],
        ),
        // A negative offset poisons its whole sequence.
        (
            PositionTensors::Offsets(int(vec![10, 14], [batch], device)),
            vec![14, 15],
            vec![],
        ),
        (
            PositionTensors::Offsets(int(vec![-3, 0], [batch], device)),
            (0..8).collect(),
            vec![],
        ),
        (
            PositionTensors::Ids(int(
                vec![0, -1, 19, 20, 5, 1000, 3, 2, 7, 7, 7, -5, 0, 0, 19, 21],
                [batch, seq],
                device,
            )),
            vec![1, 3, 5, 11, 15],
            vec![],
        ),
        // A coordinate out of range on one axis poisons the whole row ...
        (
            PositionTensors::Axes {
                ids: int(far, [2, batch, seq], device),
                pair_axes: int(vec![0, 1, 1, 0], [4], device),
            },
            vec![3, 12],
            vec![],
        ),
        // ... an axis out of range, its pair only.
        (
            PositionTensors::Axes {
                ids: int(coords, [2, batch, seq], device),
                pair_axes: int(vec![0, 2, 1, -1], [4], device),
            },
            vec![],
            vec![1, 3],
        ),
    ];
    for dtype in dtypes(device) {
        for (positions, nan_rows, nan_pairs) in &variants {
            for axes in [AxisOrder::Bhsd, AxisOrder::Bshd] {
                let what = format!("{test} {dtype:?} {axes:?} {positions:?}");
                let (layout, inverse, max_positions) = (RopeLayout::Half, false, max);
                let spec = RopeSpec {
                    layout,
                    rotary_dim,
                    axes,
                    inverse,
                    max_positions,
                };
                let table = table(&spec, 1.0, device);
                let x = random(
                    &mut rng,
                    axes.dims(batch, heads, seq, head_dim),
                    device,
                    dtype,
                );
                let expected = oracle(x.clone(), &table, positions, spec);
                let out = fast(x, &table, positions, spec);
                let bhsd = match axes {
                    AxisOrder::Bhsd => out.clone(),
                    AxisOrder::Bshd => out.clone().swap_dims(1, 2),
                };
                for (i, row) in values(bhsd).chunks(head_dim).enumerate() {
                    let (b, s) = (i / (heads * seq), i % seq);
                    let nan_row = nan_rows.contains(&(b * seq + s));
                    let nan = |e: usize| nan_row || nan_pairs.iter().any(|&p| e == p || e == p + 4);
                    let ok = row.iter().enumerate().all(|(e, v)| v.is_nan() == nan(e));
                    assert!(ok, "{what}: row (b {b}, s {s}): {row:?}");
                }
                assert_close(&what, out, expected, tolerance(dtype));
            }
        }
    }
}

/// Gradients through the fast path (its own backward: the inverse rotation) equal Burn's
/// gradients of the reference, with and without gradient checkpointing.
fn gradients_match_reference(test: &str, device: &Device) {
    let mut rng = rng(test);
    let max = 3000;
    let checkpointed = device.clone().autodiff().gradient_checkpointing();
    for (autodiff, dtype) in dtypes(device)
        .into_iter()
        .map(|d| (device.clone().autodiff(), d))
        .chain([(checkpointed, DType::F32)])
    {
        let tol = tolerance(dtype);
        for case in cases(&mut rng).into_iter().take(6) {
            let what = format!("{test} {dtype:?} {case:?}");
            let spec = case.spec(max);
            // Constants on the plain device; q, k and x on the autodiff one.
            let table = table(&spec, 0.8, device);
            let positions = case.positions(&mut rng, max, device);
            let [q, q_ref] = case
                .inputs(&mut rng, false, &autodiff, dtype)
                .map(|t| t.require_grad());
            let [k, k_ref] = case
                .inputs(&mut rng, true, &autodiff, dtype)
                .map(|t| t.require_grad());
            let [x, x_ref] = case
                .inputs(&mut rng, false, &autodiff, dtype)
                .map(|t| t.require_grad());
            let weight = case.inputs(&mut rng, false, device, dtype)[0].clone();
            let loss = |q: Tensor<4>, k: Tensor<4>, x: Tensor<4>| {
                (q * weight.clone()).sum() + (k.clone() * k).sum() + (x * weight.clone()).sum()
            };

            let (q_out, k_out) = fast_qk(q.clone(), k.clone(), &table, &positions, spec);
            let grads = loss(q_out, k_out, fast(x.clone(), &table, &positions, spec)).backward();
            let [q_out, k_out, x_out] =
                [&q_ref, &k_ref, &x_ref].map(|t| oracle(t.clone(), &table, &positions, spec));
            let ref_grads = loss(q_out, k_out, x_out).backward();
            for (name, t, t_ref) in [("dq", q, q_ref), ("dk", k, k_ref), ("dx", x, x_ref)] {
                let (g, g_ref) = (
                    t.grad(&grads).expect("a gradient"),
                    t_ref.grad(&ref_grads).expect("a gradient"),
                );
                assert_close(&format!("{what} {name}"), g, g_ref, tol);
            }
        }
    }
}

/// Element-wise ops on both sides of the call (fused among themselves under Fusion, the RoPE
/// kernel an opaque operation between them) give the reference's numbers.
fn elementwise_around(test: &str, device: &Device) {
    let mut rng = rng(test);
    let max = 100;
    for dtype in dtypes(device) {
        for case in cases(&mut rng).into_iter().take(5) {
            let what = format!("{test} {dtype:?} {case:?}");
            let spec = case.spec(max);
            let table = table(&spec, 1.0, device);
            let positions = case.positions(&mut rng, max, device);
            let [q, q_ref] = case.inputs(&mut rng, false, device, dtype);
            let [k, k_ref] = case.inputs(&mut rng, true, device, dtype);
            let before = |t: Tensor<4>| (t * 0.5 + 0.25).tanh();
            let after = |t: Tensor<4>| (t - 0.125) * 3.0;
            let (q_out, k_out) = fast_qk(before(q), before(k), &table, &positions, spec);
            let [q_exp, k_exp] =
                [q_ref, k_ref].map(|t| after(oracle(before(t), &table, &positions, spec)));
            // `after` scales by 3: three times the error.
            let tol = 3.0 * tolerance(dtype);
            assert_close(&format!("{what} q"), after(q_out), q_exp, tol);
            assert_close(&format!("{what} k"), after(k_out), k_exp, tol);
        }
    }
}

/// The `Rope` module's own routing (`has_fast_path`, autodiff stripped from its constants)
/// gives the numbers and gradients of its tensor-op path.
fn module_matches_tensor_ops(test: &str, device: &Device) {
    let mut rng = rng(test);
    for device in [device.clone(), device.clone().autodiff()] {
        let rope = RopeConfig::new(32).with_max_positions(500).init(&device);
        let oracle = rope.clone().with_tensor_ops(true);
        let q = random(&mut rng, [2, 4, 9, 32], &device, DType::F32);
        let q_ref = Tensor::<4>::from_data(q.clone().into_data(), &device);
        let k = random(&mut rng, [2, 2, 9, 32], &device, DType::F32);
        let (q, q_ref) = match device.is_autodiff() {
            true => (q.require_grad(), q_ref.require_grad()),
            false => (q, q_ref),
        };
        let (q_out, k_out) = rope.forward_qk(q.clone(), k.clone(), 7);
        let (q_exp, k_exp) = oracle.forward_qk(q_ref.clone(), k, 7);
        assert_close(&format!("{test} k"), k_out, k_exp, 1e-5);
        if device.is_autodiff() {
            let grads = q_out.sum().backward();
            let ref_grads = q_exp.sum().backward();
            let (g, g_ref) = (q.grad(&grads).unwrap(), q_ref.grad(&ref_grads).unwrap());
            assert_close(&format!("{test} dq"), g, g_ref, 1e-5);
        } else {
            assert_close(&format!("{test} q"), q_out, q_exp, 1e-5);
        }
    }
}

/// The tests of one device, each named `<prefix>_<check>`.
macro_rules! device_tests {
    ($module:ident, $device:expr, [$($check:ident),*]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $check() {
                    let test = concat!(stringify!($module), "::", stringify!($check));
                    super::$check(test, &$device);
                }
            )*
        }
    };
}

#[cfg(feature = "flex")]
device_tests!(
    flex,
    Device::flex(),
    [
        matches_reference,
        out_of_range_rows_are_nan,
        gradients_match_reference,
        elementwise_around,
        module_matches_tensor_ops
    ]
);

// The default wgpu adapter: Mesa's lavapipe on a machine without a GPU. Fused
// (`Fusion<CubeBackend>`): every cube feature turns Burn's fusion on.
#[cfg(feature = "wgpu")]
device_tests!(
    wgpu,
    Device::wgpu(burn::tensor::DeviceKind::DefaultDevice),
    [
        matches_reference,
        out_of_range_rows_are_nan,
        gradients_match_reference,
        elementwise_around,
        module_matches_tensor_ops
    ]
);
