//! Calls of the [`RopeOps`] backend extension itself (what `Rope` runs on its fast path), with
//! tables and position tensors the module would never build.

use burn::backend::{Dispatch, DispatchTensorKind};
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_rotary::prelude::*;
use burn_rotary::{PositionTensors, PositionsPrimitive, RopeOps, RopeSpec};

use super::{assert_close, fresh_seed, normal, values};

/// Whether `x`'s device has a fast path in this build: a CubeCL device with `wgpu` or `cuda`,
/// Flex with `flex` (any other reaches the extension's `unimplemented!`).
fn has_fast_path(x: &Tensor<4>) -> bool {
    let dispatch = x.clone().into_dispatch();
    let mut kind = &dispatch.kind;
    #[allow(irrefutable_let_patterns)]
    while let DispatchTensorKind::Autodiff(inner) = kind {
        kind = inner;
    }
    #[allow(unreachable_patterns)]
    match kind {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        DispatchTensorKind::Cube(_) => true,
        #[cfg(feature = "flex")]
        DispatchTensorKind::Flex(_) => true,
        _ => false,
    }
}

/// `<Dispatch as RopeOps>::rope` on tensors: `x`'s device's own RoPE with the given table.
pub fn rope(
    x: Tensor<4>,
    table: Tensor<3>,
    positions: PositionTensors,
    spec: RopeSpec,
) -> Tensor<4> {
    assert!(
        has_fast_path(&x),
        "{:?} has no RopeOps implementation in this build",
        x.device()
    );
    let positions = match positions {
        PositionTensors::Offset(offset) => PositionsPrimitive::Offset(offset),
        PositionTensors::Offsets(t) => PositionsPrimitive::Offsets(t.into_dispatch()),
        PositionTensors::Ids(t) => PositionsPrimitive::Ids(t.into_dispatch()),
        PositionTensors::Axes { ids, pair_axes } => PositionsPrimitive::Axes {
            ids: ids.into_dispatch(),
            pair_axes: pair_axes.into_dispatch(),
        },
    };
    let out =
        <Dispatch as RopeOps>::rope(x.into_dispatch(), table.into_dispatch(), positions, spec);
    Tensor::from_dispatch(out)
}

/// A table whose rows are pitched (CUDA aligns the rows of a `[rows, 2, 12]` table to 16
/// floats: strides `[32, 16, 1]`) gives the same output as a packed one, through the device's
/// own RoPE. The pitched table here is a view of a wider table whose extra columns are NaN, so
/// any read through the wrong strides shows.
pub fn pitched_table_rows(device: &Device) {
    use burn_rotary::default_inv_freq;
    use burn_rotary::table::{build_table, table_rows};

    fresh_seed(device);
    let (head_dim, rotary_dim, max_positions) = (40, 24, 4096);
    let half = rotary_dim / 2;
    let packed = build_table(&default_inv_freq(10_000.0, rotary_dim), 1.0, max_positions);
    let rows = table_rows(max_positions);
    let pitch = 16;
    let packed_values = packed.try_to_vec::<f32>().unwrap();
    let mut wide = vec![f32::NAN; rows * 2 * pitch];
    for (r, chunk) in packed_values.chunks(half).enumerate() {
        wide[r * pitch..r * pitch + half].copy_from_slice(chunk);
    }
    let table = Tensor::<3>::from_data(packed, (device, DType::F32));
    let pitched = Tensor::<3>::from_data(
        TensorData::new(wide, [rows, 2, pitch]),
        (device, DType::F32),
    )
    .slice([0..rows, 0..2, 0..half]);

    for layout in [RopeLayout::Half, RopeLayout::Interleaved] {
        let spec = RopeSpec {
            layout,
            rotary_dim,
            axes: AxisOrder::Bhsd,
            inverse: false,
            max_positions,
        };
        let x = normal([2, 3, 9, head_dim], device);
        let run = |table: &Tensor<3>| {
            values(rope(
                x.clone(),
                table.clone(),
                PositionTensors::Offset(1000),
                spec,
            ))
        };
        let (expected, actual) = (run(&table), run(&pitched));
        assert!(
            expected.iter().all(|v| v.is_finite()),
            "{layout:?}: packed table gave NaN"
        );
        assert_close(
            &actual,
            &expected,
            0.0,
            &format!("{layout:?}: pitched table"),
        );
    }
}
