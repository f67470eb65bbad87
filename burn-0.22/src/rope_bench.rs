//! The op benchmark of the Burn 0.22 line: per device and shape, the time of a plain copy of
//! q and k (the floor), `Rope::forward_qk` (the fast path), the forward and backward ops
//! (`apply_qk` then `apply_inverse`, the transpose rotation `Autodiff` runs), the same module
//! forced onto tensor ops, and burn-nn 0.22's `RotaryEncoding` on q and k — all devices in one
//! run, so the ratios share a machine state. Times are the wall clock to the end of a device
//! sync, the best of several batches of calls.

use std::time::Instant;

use burn::nn::RotaryEncodingConfig;
use burn::tensor::{DType, Device, Distribution, Tensor};
use burn_rotary::prelude::*;

/// One shape: q and k (GQA when their head counts differ).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Row label.
    pub name: &'static str,
    /// `[batch, heads, seq, head_dim]` of q.
    pub q: [usize; 4],
    /// The same for k.
    pub k: [usize; 4],
}

/// Shapes a 2-core CPU times in seconds (those of the 0.21 line's CPU table).
pub const CPU_SHAPES: [Shape; 3] = [
    Shape {
        name: "small",
        q: [1, 8, 512, 64],
        k: [1, 8, 512, 64],
    },
    Shape {
        name: "medium",
        q: [4, 8, 1024, 64],
        k: [4, 8, 1024, 64],
    },
    Shape {
        name: "large",
        q: [1, 32, 2048, 128],
        k: [1, 32, 2048, 128],
    },
];

/// The shapes of the GPU table (H100 / H200).
pub const GPU_SHAPES: [Shape; 4] = [
    Shape {
        name: "prefill",
        q: [8, 32, 4096, 128],
        k: [8, 32, 4096, 128],
    },
    Shape {
        name: "long",
        q: [1, 32, 32768, 128],
        k: [1, 32, 32768, 128],
    },
    Shape {
        name: "gqa",
        q: [16, 32, 2048, 64],
        k: [16, 8, 2048, 64],
    },
    Shape {
        name: "decode",
        q: [64, 32, 1, 128],
        k: [64, 8, 1, 128],
    },
];

/// The milliseconds per call of each row, for one device and shape.
#[derive(Debug, Clone)]
pub struct Row {
    /// The device's name as given.
    pub device: String,
    /// The shape.
    pub shape: Shape,
    /// The storage dtype.
    pub dtype: DType,
    /// `(row label, ms per call)`.
    pub times: Vec<(&'static str, f64)>,
}

/// Times every row of `shape` on `device` in `dtype`, `iters` calls per batch.
pub fn bench(device_name: &str, device: &Device, shape: Shape, dtype: DType, iters: usize) -> Row {
    let d = shape.q[3];
    let rope = RopeConfig::new(d).with_theta(500_000.0).init(device);
    let tensor_ops = rope.clone().with_tensor_ops(true);
    let builtin = RotaryEncodingConfig::new(1 << 16, d)
        .with_theta(500_000.0)
        .init(device);
    let draw =
        |dims: [usize; 4]| Tensor::<4>::random(dims, Distribution::Default, device).cast(dtype);
    let (q, k) = (draw(shape.q), draw(shape.k));
    let positions = Positions::offset(0);
    let time = |f: &dyn Fn() -> Vec<Tensor<4>>| time_ms(device, iters, f);
    let times = vec![
        ("copy", time(&|| vec![-q.clone(), -k.clone()])),
        (
            "rope fwd",
            time(&|| {
                let (q, k) = rope.forward_qk(q.clone(), k.clone(), 0);
                vec![q, k]
            }),
        ),
        (
            "rope f+b",
            time(&|| {
                let (q, k) = rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
                vec![
                    rope.apply_inverse(q, &positions, AxisOrder::Bhsd),
                    rope.apply_inverse(k, &positions, AxisOrder::Bhsd),
                ]
            }),
        ),
        (
            "tensor ops",
            time(&|| {
                let (q, k) = tensor_ops.forward_qk(q.clone(), k.clone(), 0);
                vec![q, k]
            }),
        ),
        (
            "builtin",
            time(&|| vec![builtin.forward(q.clone()), builtin.forward(k.clone())]),
        ),
    ];
    Row {
        device: device_name.to_string(),
        shape,
        dtype,
        times,
    }
}

/// The best ms per call over batches of `iters` calls (at least 3 batches and 0.3 s), after
/// one warm-up batch; outputs stay alive until the batch's sync.
fn time_ms(device: &Device, iters: usize, f: &dyn Fn() -> Vec<Tensor<4>>) -> f64 {
    let batch = || {
        let start = Instant::now();
        let outputs: Vec<_> = (0..iters).map(|_| f()).collect();
        device.sync().expect("device sync");
        drop(outputs);
        start.elapsed().as_secs_f64() * 1e3 / iters as f64
    };
    batch();
    let (mut best, mut spent, mut batches) = (f64::INFINITY, 0.0, 0);
    while batches < 3 || spent < 300.0 {
        let ms = batch();
        best = best.min(ms);
        spent += ms * iters as f64;
        batches += 1;
    }
    best
}

/// The rows as a markdown table, with `% copy` of `rope fwd` and its speed-up over `builtin`.
pub fn table(rows: &[Row]) -> String {
    let labels: Vec<&str> = rows
        .first()
        .map(|r| r.times.iter().map(|(l, _)| *l).collect())
        .unwrap_or_default();
    let mut out = format!(
        "| device | shape | dtype | {} | rope fwd % copy | vs builtin |\n|---|---|---|{}---|---|\n",
        labels
            .iter()
            .map(|l| format!("{l} ms"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(labels.len())
    );
    for row in rows {
        let ms = |label| {
            row.times
                .iter()
                .find(|(l, _)| *l == label)
                .map_or(f64::NAN, |t| t.1)
        };
        out += &format!(
            "| {} | {} `{:?}` q, `{:?}` k | {:?} | {} | {:.0} % | {:.2}x |\n",
            row.device,
            row.shape.name,
            row.shape.q,
            row.shape.k,
            row.dtype,
            row.times
                .iter()
                .map(|(_, t)| format!("{t:.3}"))
                .collect::<Vec<_>>()
                .join(" | "),
            100.0 * ms("copy") / ms("rope fwd"),
            ms("builtin") / ms("rope fwd"),
        );
    }
    out
}
