//! The launcher of [`rope_kernel`](super::rope_kernel): checks the inputs, shapes the launch, binds the tensors.
//! (Port of the launcher half of the 0.21 line's `cube/kernel.rs`.)

use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::DType;
use burn_cubecl::cubecl::{calculate_cube_count_elemwise, prelude::AddressType};
use burn_cubecl::kernel::untile;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::launch_shape::{Tuning, contiguous_head_dim, cube_dim, head_groups, vector_size};
use super::rope_kernel::{PairShape, PositionMode, launch_rope_kernel};
use crate::spec::{AxisOrder, RopeSpec, check_same_dtype, check_table};
use burn_rotary_core::RopeLayout;

/// Positions as the launcher takes them.
// Built once per launch and consumed by it: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum KernelPositions {
    /// Row `s` is at `offset + s`.
    Offset(usize),
    /// Row `s` of sequence `b` is at `offsets[b] + s`; `[batch]`.
    Offsets(CubeTensor),
    /// Position ids, `[batch, seq]` or `[1, seq]`.
    Ids(CubeTensor),
    /// Coordinates `[axes, batch, seq]` or `[axes, 1, seq]`, and the axis of each pair
    /// `[rotary_dim / 2]` (same int dtype).
    Axes {
        /// The coordinates.
        ids: CubeTensor,
        /// The axis of each pair.
        pair_axes: CubeTensor,
    },
}

/// Launches the RoPE kernel on q (and k): new contiguous outputs of the same shapes.
///
/// # Panics
/// If the table is not `f32`, fails [`RopeSpec::check_table_shape`] or its last dim is not
/// contiguous; if q and k differ in dtype; if the position tensors have the wrong shape.
pub fn launch_rope(
    q: CubeTensor,
    k: Option<CubeTensor>,
    table: CubeTensor,
    positions: KernelPositions,
    spec: RopeSpec,
) -> (CubeTensor, Option<CubeTensor>) {
    let op = "rope kernel";
    // A storage-tiled tensor (a matmul output) cannot be bound as rows: untile every input.
    let (q, k, table) = (untile(q), k.map(untile), untile(table));
    check_table(&spec, op, table.dtype, table.meta.shape());
    // Rows may be pitched (CUDA aligns them); the kernel reads through the strides.
    assert!(
        table.meta.strides()[2] == 1,
        "{op}: the angle table's last dim must be contiguous, got strides {:?}",
        table.meta.strides()
    );
    if let Some(k) = &k {
        check_same_dtype(op, q.dtype, k.dtype);
    }
    // A head dim that is not contiguous (e.g. the gradient of a transposed product) would
    // force scalar, uncoalesced loads: one contiguous copy is cheaper.
    let q = contiguous_head_dim(q);
    let k = k.map(contiguous_head_dim);

    let dims: [usize; 4] = q.meta.shape().dims();
    let (batch, q_heads, seq, head_dim) = spec.axes.split(dims);
    let k_heads = k
        .as_ref()
        .map_or(0, |k| spec.axes.split(k.meta.shape().dims()).1);
    let empty_like = |t: &CubeTensor| {
        empty_device_contiguous_dtype(
            t.client.clone(),
            t.device.clone(),
            t.meta.shape().clone(),
            t.dtype,
        )
    };
    let q_out = empty_like(&q);
    let k_out = k.as_ref().map(empty_like);
    let tokens = batch * seq;
    let heads = q_heads + k_heads;
    if tokens == 0 || heads == 0 || head_dim == 0 {
        return (q_out, k_out);
    }

    let rotary_dim = spec.rotary_dim;
    let half = rotary_dim / 2;
    let interleaved = spec.layout == RopeLayout::Interleaved;
    let inputs: Vec<&CubeTensor> = core::iter::once(&q).chain(k.as_ref()).collect();
    let n = vector_size(&inputs, head_dim, rotary_dim, interleaved);
    let pairs = if interleaved && n > 1 {
        PairShape::InVector
    } else {
        PairShape::TwoLoads
    };
    let unit_pairs = match pairs {
        PairShape::TwoLoads if interleaved => 1,
        PairShape::TwoLoads => n,
        PairShape::InVector => n / 2,
    };
    let units = half / unit_pairs + (head_dim - rotary_dim) / n;

    let client = q.client.clone();
    // The position rows a tensor of position ids has: `batch`, or 1 shared by the batch.
    let check_rows = |what: &str, shape: &[usize], expected: &[usize]| {
        let rows_ok = shape.len() == expected.len()
            && shape
                .iter()
                .zip(expected)
                .enumerate()
                .all(|(d, (&got, &want))| got == want || (d == expected.len() - 2 && got == 1));
        assert!(
            rows_ok,
            "{op}: expected {what} of shape {expected:?} (or 1 row shared by the batch), got \
             {shape:?}"
        );
    };
    let batch_stride = |t: &CubeTensor, dim: usize| {
        let shared = t.meta.shape()[dim] == 1 && batch > 1;
        if shared { 0 } else { t.meta.strides()[dim] }
    };
    let (mode, offset, ids_batch_stride, positions, pair_axes, axes) = match positions {
        // The position tensors are not read in this mode: bind the table's buffer in their
        // place (no allocation per call).
        KernelPositions::Offset(offset) => {
            let unused = CubeTensor {
                dtype: DType::I32,
                ..table.clone()
            };
            (PositionMode::Offset, offset, 0, unused.clone(), unused, 1)
        }
        KernelPositions::Offsets(t) => {
            let t = untile(t);
            assert!(
                t.meta.shape().dims::<1>() == [batch],
                "{op}: expected offsets of shape [{batch}], got {:?}",
                t.meta.shape()
            );
            (PositionMode::Offsets, 0, 0, t.clone(), t, 1)
        }
        KernelPositions::Ids(t) => {
            let t = untile(t);
            check_rows("position ids", t.meta.shape(), &[batch, seq]);
            let stride = batch_stride(&t, 0);
            (PositionMode::Ids, 0, stride, t.clone(), t, 1)
        }
        KernelPositions::Axes { ids, pair_axes } => {
            let (ids, pair_axes) = (untile(ids), untile(pair_axes));
            let axes = ids.meta.shape().first().copied().unwrap_or(0);
            check_rows("coordinates", ids.meta.shape(), &[axes, batch, seq]);
            assert!(
                pair_axes.meta.shape().dims::<1>() == [half] && pair_axes.dtype == ids.dtype,
                "{op}: expected pair axes of shape [{half}] and dtype {:?}, got {:?} {:?}",
                ids.dtype,
                pair_axes.meta.shape(),
                pair_axes.dtype
            );
            let stride = batch_stride(&ids, 1);
            (PositionMode::Axes, 0, stride, ids, pair_axes, axes)
        }
    };

    let tuning = Tuning::from_env();
    let groups = head_groups(&client, tokens * units, heads, tuning.heads_per_unit);
    let working_units = tokens * units * groups;
    let cube_dim = cube_dim(&client, working_units, tuning.planes_per_cube);
    let cube_count = calculate_cube_count_elemwise(&client, working_units, cube_dim);
    let address_type = [&q, &table, &positions, &pair_axes, &q_out]
        .into_iter()
        .chain(k.iter())
        .chain(k_out.iter())
        .map(|t| t.required_address_type())
        .max()
        .unwrap_or(AddressType::U32);
    let dtypes = [
        dtype_to_storage_type(q.dtype),
        dtype_to_storage_type(positions.dtype),
    ];
    // With q alone, q is bound as k too and no head of the range is k's.
    let (k_arg, k_out_arg) = match (&k, &k_out) {
        (Some(k), Some(k_out)) => (k.clone(), k_out.clone()),
        _ => (q.clone(), q_out.clone()),
    };

    // SAFETY: every index the kernel forms is in bounds: units past `tokens * units * groups`
    // terminate, heads come from the checked shapes, positions are checked against
    // `max_positions` before they pick a table row, and the table has the rows of
    // `max_positions` (checked above).
    unsafe {
        launch_rope_kernel(
            &client,
            cube_count,
            cube_dim,
            address_type,
            n,
            q.into_tensor_arg(),
            k_arg.into_tensor_arg(),
            q_out.clone().into_tensor_arg(),
            k_out_arg.into_tensor_arg(),
            table.into_tensor_arg(),
            positions.into_tensor_arg(),
            pair_axes.into_tensor_arg(),
            axes,
            tokens,
            seq,
            q_heads,
            heads,
            groups,
            offset,
            ids_batch_stride,
            spec.max_positions,
            if spec.inverse { -1.0 } else { 1.0 },
            rotary_dim,
            head_dim,
            pairs,
            interleaved,
            mode,
            spec.axes == AxisOrder::Bshd,
            dtypes,
        );
    }
    (q_out, k_out)
}
