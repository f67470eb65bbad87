//! `Autodiff<B>`: RoPE is linear in `x` with an orthogonal (times the attention factor) matrix,
//! so its backward is the transpose rotation of the incoming gradient,
//! `dx = a R(-t) dy`, i.e. the same op with [`RopeSpec::inverse`] flipped. Nothing is saved from
//! the forward but the table and positions, and the backward runs `B`'s own (fast) path.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::FloatTensor;

use crate::backend::RopeBackend;
use crate::spec::{PositionsPrimitive, RopeSpec};

/// What the backward needs: the table, the positions and the spec.
#[derive(Debug)]
struct RopeState<B: RopeBackend> {
    table: FloatTensor<B>,
    positions: PositionsPrimitive<B>,
    spec: RopeSpec,
}

impl<B: RopeBackend> Clone for RopeState<B> {
    fn clone(&self) -> Self {
        Self {
            table: self.table.clone(),
            positions: self.positions.clone(),
            spec: self.spec,
        }
    }
}

#[derive(Debug)]
struct RopeBackward;

impl<B: RopeBackend> Backward<B, 1> for RopeBackward {
    type State = RopeState<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let RopeState {
            table,
            positions,
            spec,
        } = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::rope(grad, table, positions, spec.inverted())
        });
    }
}

fn inner_positions<B: RopeBackend, C: CheckpointStrategy>(
    positions: PositionsPrimitive<Autodiff<B, C>>,
) -> PositionsPrimitive<B> {
    match positions {
        PositionsPrimitive::Offset(o) => PositionsPrimitive::Offset(o),
        PositionsPrimitive::Offsets(t) => PositionsPrimitive::Offsets(t),
        PositionsPrimitive::Ids(t) => PositionsPrimitive::Ids(t),
        PositionsPrimitive::Axes { ids, pair_axes } => PositionsPrimitive::Axes { ids, pair_axes },
    }
}

/// Registers `output = rope(x)` on the graph, with the transpose rotation as its backward.
fn track<B: RopeBackend, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    output: FloatTensor<B>,
    state: RopeState<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match RopeBackward
        .prepare::<C>([x.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: RopeBackend, C: CheckpointStrategy> RopeBackend for Autodiff<B, C> {
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        let state = RopeState {
            table: table.primitive,
            positions: inner_positions(positions),
            spec,
        };
        let output = B::rope(
            x.primitive.clone(),
            state.table.clone(),
            state.positions.clone(),
            spec,
        );
        track::<B, C>(x, output, state)
    }

    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let state = RopeState {
            table: table.primitive,
            positions: inner_positions(positions),
            spec,
        };
        let (q_out, k_out) = B::rope_qk(
            q.primitive.clone(),
            k.primitive.clone(),
            state.table.clone(),
            state.positions.clone(),
            spec,
        );
        (
            track::<B, C>(q, q_out, state.clone()),
            track::<B, C>(k, k_out, state),
        )
    }
}
