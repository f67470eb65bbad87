//! Positions outside the table and degenerate shapes: never a read outside the table, never a
//! plausible wrong number.

use std::panic::{AssertUnwindSafe, catch_unwind};

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_rotary::prelude::*;

use super::{fresh_seed, normal, values};

const MAX: usize = 4096;

/// Row `s` of every head of a `[batch, heads, seq, d]` output, by batch row.
fn rows_of(out: &[f64], [_, heads, seq, d]: [usize; 4], b: usize, s: usize) -> Vec<f64> {
    (0..heads)
        .flat_map(|h| {
            let start = ((b * heads + h) * seq + s) * d;
            out[start..start + d].to_vec()
        })
        .collect()
}

/// Device position tensors with ids `max_positions`, `max_positions + 5`, `-1` and `i32::MAX`,
/// and per-sequence offsets that are negative or run past the end: those rows come out NaN on
/// every path (fast, tensor ops, inverse), every other row equals a run with valid positions
/// only.
pub fn out_of_range_positions_are_nan(device: &Device) {
    fresh_seed(device);
    for layout in [RopeLayout::Half, RopeLayout::Interleaved] {
        let config = RopeConfig::new(40)
            .with_rotary_dim(Some(24))
            .with_layout(layout)
            .with_max_positions(MAX);
        let rope = config.init(device);
        let oracle = config.init(device).with_tensor_ops(true);
        let dims = [2, 3, 6, 40];
        let (q, k) = (normal(dims, device), normal([2, 1, 6, 40], device));
        let bad = [MAX as i64, MAX as i64 + 5, -1, i32::MAX as i64];
        // Batch row 0: bad ids at s = 1, 2, 3, 5; batch row 1: all valid.
        let ids = [
            0,
            bad[0],
            bad[1],
            bad[2],
            (MAX - 1) as i64,
            bad[3],
            5,
            6,
            7,
            (MAX - 1) as i64,
            1024,
            3,
        ];
        let valid_ids: Vec<i64> = ids.iter().map(|&p| p.clamp(0, MAX as i64 - 1)).collect();
        let tensor =
            |v: &[i64]| Tensor::<2, Int>::from_data(TensorData::new(v.to_vec(), [2, 6]), device);
        let (pos, valid_pos) = (
            Positions::ids(tensor(&ids)),
            Positions::ids(tensor(&valid_ids)),
        );
        let bad_rows = [(0, 1), (0, 2), (0, 3), (0, 5)];
        for (what, rope) in [("fast path", &rope), ("tensor ops", &oracle)] {
            let expected = values(rope.apply(q.clone(), &valid_pos, AxisOrder::Bhsd));
            let (qo, ko) = rope.apply_qk(q.clone(), k.clone(), &pos, AxisOrder::Bhsd);
            let inverse = values(rope.apply_inverse(q.clone(), &pos, AxisOrder::Bhsd));
            let (qo, ko) = (values(qo), values(ko));
            for b in 0..2 {
                for s in 0..6 {
                    let got = rows_of(&qo, dims, b, s);
                    let what = format!("{what} {layout:?} ids row ({b}, {s})");
                    if bad_rows.contains(&(b, s)) {
                        assert!(got.iter().all(|v| v.is_nan()), "{what}: not NaN: {got:?}");
                        assert!(rows_of(&ko, [2, 1, 6, 40], b, s).iter().all(|v| v.is_nan()));
                        assert!(rows_of(&inverse, dims, b, s).iter().all(|v| v.is_nan()));
                    } else {
                        assert_eq!(got, rows_of(&expected, dims, b, s), "{what}");
                    }
                }
            }
        }

        // Offsets: -1 (would read position s - 1: the whole sequence is NaN), MAX - 3 (runs
        // past the end from s = 3), i32::MAX (would wrap).
        for (offsets, bad_rows) in [
            (
                vec![-1i64, 10],
                vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)],
            ),
            (vec![20, (MAX - 3) as i64], vec![(1, 3), (1, 4), (1, 5)]),
            (
                vec![i32::MAX as i64, 0],
                vec![(0, 0), (0, 1), (0, 2), (0, 3), (0, 4), (0, 5)],
            ),
        ] {
            let pos = Positions::offsets(Tensor::<1, Int>::from_data(
                TensorData::new(offsets.clone(), [2]),
                device,
            ));
            for (what, rope) in [("fast path", &rope), ("tensor ops", &oracle)] {
                let out = values(rope.apply(q.clone(), &pos, AxisOrder::Bhsd));
                for (b, s) in (0..2).flat_map(|b| (0..6).map(move |s| (b, s))) {
                    let got = rows_of(&out, dims, b, s);
                    let what = format!("{what} {layout:?} offsets {offsets:?} row ({b}, {s})");
                    if bad_rows.contains(&(b, s)) {
                        assert!(got.iter().all(|v| v.is_nan()), "{what}: not NaN");
                    } else {
                        assert!(got.iter().all(|v| v.is_finite()), "{what}: not finite");
                    }
                }
            }
        }
    }
}

pub(super) fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Positions known on the host that leave the table are a panic naming the position and
/// `max_positions`, including offsets whose sum would wrap.
pub fn host_positions_out_of_range_panic(device: &Device) {
    let rope = RopeConfig::new(8).with_max_positions(MAX).init(device);
    let x = normal([2, 1, 4, 8], device);
    let cases: Vec<(Positions, &str)> = vec![
        (Positions::offset(MAX - 3), "position 4096"),
        (Positions::offset(usize::MAX), "out of range"),
        (Positions::offset(usize::MAX - 2), "out of range"),
        (
            Positions::ids_from_slice(&[0, 1, -1, 3], [1, 4], device),
            "position -1",
        ),
        (
            Positions::ids_from_slice(&[0, 1, 2, MAX as i64], [1, 4], device),
            "position 4096",
        ),
        (
            Positions::offsets_from_slice(&[0, MAX - 2], device),
            "position 4097",
        ),
        (
            Positions::offsets_from_slice(&[usize::MAX, 0], device),
            "out of range",
        ),
    ];
    for (positions, needle) in cases {
        let message = panic_message(|| {
            rope.apply(x.clone(), &positions, AxisOrder::Bhsd);
        });
        assert!(
            message.contains(needle) && message.contains("max_positions"),
            "{needle:?} not in {message:?}"
        );
    }
    // At the edge: fine.
    let edge = rope.apply(x.clone(), &Positions::offset(MAX - 4), AxisOrder::Bhsd);
    assert!(values(edge).iter().all(|v| v.is_finite()));
    let host = Positions::ids_from_slice(&[0, 7, 1, MAX as i64 - 1], [1, 4], device);
    let device_ids = Positions::ids(Tensor::<2, Int>::from_data(
        TensorData::new(vec![0i64, 7, 1, MAX as i64 - 1], [1, 4]),
        device,
    ));
    assert_eq!(
        values(rope.apply(x.clone(), &host, AxisOrder::Bhsd)),
        values(rope.apply(x, &device_ids, AxisOrder::Bhsd))
    );
}

/// Zero query heads (or key heads) still rotate the other tensor; zero-sized inputs pass.
pub fn degenerate_shapes(device: &Device) {
    fresh_seed(device);
    let rope = RopeConfig::new(16).init(device);
    let k = normal([2, 3, 5, 16], device);
    let expected = values(rope.forward(k.clone(), 9));
    let (q0, k0) = rope.forward_qk(Tensor::empty([2, 0, 5, 16], device), k.clone(), 9);
    assert_eq!(q0.dims(), [2, 0, 5, 16]);
    assert_eq!(values(k0), expected, "k with zero query heads");
    let (q1, k1) = rope.forward_qk(k.clone(), Tensor::empty([2, 0, 5, 16], device), 9);
    assert_eq!(k1.dims(), [2, 0, 5, 16]);
    assert_eq!(values(q1), expected, "q with zero key heads");
    let empty = rope.forward(Tensor::empty([0, 3, 5, 16], device), 0);
    assert_eq!(empty.dims(), [0, 3, 5, 16]);
}
