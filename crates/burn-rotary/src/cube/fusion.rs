//! `Fusion<B>`: RoPE is registered as one custom operation on the fusion stream, which runs
//! `B`'s own RoPE (the fused kernel for `CubeBackend`). Element-wise ops before and after it
//! still fuse among themselves.

use core::marker::PhantomData;

use burn::tensor::ops::FloatTensor;
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime, FusionTensor};
use burn_ir::{CustomOpIr, HandleContainer, OperationIr, TensorIr};

use crate::backend::RopeBackend;
use crate::spec::{check_same_dtype, check_table, PositionsPrimitive, RopeSpec};

/// Which position inputs the op has (the tensors, if any, are its last inputs).
#[derive(Debug, Clone, Copy)]
enum PositionKind {
    Offset(usize),
    Offsets,
    Ids,
    /// Coordinates, then the axis of each pair.
    Axes,
}

#[derive(Debug, Clone)]
struct RopeOp<B> {
    desc: CustomOpIr,
    positions: PositionKind,
    with_k: bool,
    spec: RopeSpec,
    _backend: PhantomData<B>,
}

impl<B: FusionBackend + RopeBackend> Operation<B::FusionRuntime> for RopeOp<B> {
    fn execute(
        &self,
        handles: &mut HandleContainer<<B::FusionRuntime as FusionRuntime>::FusionHandle>,
    ) {
        let mut inputs = self.desc.inputs.iter();
        let mut next = || inputs.next().expect("rope: missing fusion input");
        let q = handles.get_float_tensor::<B>(next());
        let k = self.with_k.then(|| handles.get_float_tensor::<B>(next()));
        let table = handles.get_float_tensor::<B>(next());
        let positions = match self.positions {
            PositionKind::Offset(offset) => PositionsPrimitive::Offset(offset),
            PositionKind::Offsets => {
                PositionsPrimitive::Offsets(handles.get_int_tensor::<B>(next()))
            }
            PositionKind::Ids => PositionsPrimitive::Ids(handles.get_int_tensor::<B>(next())),
            PositionKind::Axes => PositionsPrimitive::Axes {
                ids: handles.get_int_tensor::<B>(next()),
                pair_axes: handles.get_int_tensor::<B>(next()),
            },
        };
        let outputs = &self.desc.outputs;
        match k {
            Some(k) => {
                let (q, k) = B::rope_qk(q, k, table, positions, self.spec);
                handles.register_float_tensor::<B>(&outputs[0].id, q);
                handles.register_float_tensor::<B>(&outputs[1].id, k);
            }
            None => {
                let q = B::rope(q, table, positions, self.spec);
                handles.register_float_tensor::<B>(&outputs[0].id, q);
            }
        }
    }
}

/// Registers RoPE of q (and k) on the fusion stream; returns the outputs.
fn register<B: FusionBackend + RopeBackend>(
    q: FusionTensor<B::FusionRuntime>,
    k: Option<FusionTensor<B::FusionRuntime>>,
    table: FusionTensor<B::FusionRuntime>,
    positions: PositionsPrimitive<Fusion<B>>,
    spec: RopeSpec,
) -> Vec<FusionTensor<B::FusionRuntime>> {
    // Checked here, where the caller is, not when the stream runs.
    let op = "rope (fusion)";
    check_table(&spec, op, table.dtype, &table.shape);
    if let Some(k) = &k {
        check_same_dtype(op, q.dtype, k.dtype);
    }
    let client = q.client.clone();
    let (kind, position_tensors) = match positions {
        PositionsPrimitive::Offset(offset) => (PositionKind::Offset(offset), [None, None]),
        PositionsPrimitive::Offsets(t) => (PositionKind::Offsets, [Some(t), None]),
        PositionsPrimitive::Ids(t) => (PositionKind::Ids, [Some(t), None]),
        PositionsPrimitive::Axes { ids, pair_axes } => {
            (PositionKind::Axes, [Some(ids), Some(pair_axes)])
        }
    };
    let inputs: Vec<_> = [Some(q), k.clone().or(None), Some(table)]
        .into_iter()
        .chain(position_tensors)
        .flatten()
        .collect();
    let with_k = k.is_some();
    let streams = OperationStreams::with_inputs(inputs.iter());
    let output_of = |t: &FusionTensor<B::FusionRuntime>| {
        TensorIr::uninit(client.create_empty_handle(), t.shape.clone(), t.dtype)
    };
    let outputs: Vec<TensorIr> = inputs[..1 + usize::from(with_k)]
        .iter()
        .map(output_of)
        .collect();
    let inputs: Vec<TensorIr> = inputs.into_iter().map(FusionTensor::into_ir).collect();
    let desc = CustomOpIr::new("burn_rotary::rope", &inputs, &outputs);
    let op = RopeOp::<B> {
        desc: desc.clone(),
        positions: kind,
        with_k,
        spec,
        _backend: PhantomData,
    };
    client.register(streams, OperationIr::Custom(desc), op)
}

impl<B: FusionBackend + RopeBackend> RopeBackend for Fusion<B> {
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        let [q] = register::<B>(x, None, table, positions, spec)
            .try_into()
            .expect("one output");
        q
    }

    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [q, k] = register::<B>(q, Some(k), table, positions, spec)
            .try_into()
            .expect("two outputs");
        (q, k)
    }
}
