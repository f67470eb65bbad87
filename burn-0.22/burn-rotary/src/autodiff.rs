//! `Autodiff<B>`: RoPE is linear in `x` with an orthogonal (times the attention factor) matrix,
//! so its backward is the transpose rotation of the incoming gradient, `dx = a R(-t) dy`, i.e.
//! the same op with [`RopeSpec::inverse`] flipped. Nothing is saved from the forward but the
//! table and positions (constants), and the backward runs `B`'s own fast path.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::tensor::FloatTensor;

use crate::ops::{PositionsPrimitive, RopeOps};
use crate::spec::RopeSpec;

/// What the backward needs: the table, the positions and the spec.
#[derive(Debug)]
struct RopeState<B: RopeOps> {
    table: FloatTensor<B>,
    positions: PositionsPrimitive<B>,
    spec: RopeSpec,
}

impl<B: RopeOps> Clone for RopeState<B> {
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

impl<B: RopeOps> Backward<B, 1> for RopeBackward {
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

/// Int primitives are the same under autodiff: only the type changes.
fn inner_positions<B: RopeOps, C: CheckpointStrategy>(
    positions: PositionsPrimitive<Autodiff<B, C>>,
) -> PositionsPrimitive<B> {
    match positions {
        PositionsPrimitive::Offset(o) => PositionsPrimitive::Offset(o),
        PositionsPrimitive::Offsets(t) => PositionsPrimitive::Offsets(t),
        PositionsPrimitive::Ids(t) => PositionsPrimitive::Ids(t),
        PositionsPrimitive::Axes { ids, pair_axes } => PositionsPrimitive::Axes { ids, pair_axes },
    }
}

type Prepared<B, C> = OpsKind<RopeBackward, B, RopeState<B>, C, 1>;

/// Prepares the graph step of one rotated tensor, before its primitive is consumed.
fn prepare<B: RopeOps, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
) -> (FloatTensor<B>, Prepared<B, C>) {
    let (primitive, node) = x.into_parts();
    let prepared = RopeBackward.prepare::<C>([node]).compute_bound().stateful();
    (primitive, prepared)
}

/// Registers `output = rope(x)` on the graph, with the transpose rotation as its backward.
fn finish<B: RopeOps, C: CheckpointStrategy>(
    prepared: Prepared<B, C>,
    output: FloatTensor<B>,
    state: RopeState<B>,
) -> FloatTensor<Autodiff<B, C>> {
    match prepared {
        OpsKind::Tracked(prep) => prep.finish(state, output),
        OpsKind::UnTracked(prep) => prep.finish(output),
    }
}

impl<B: RopeOps, C: CheckpointStrategy> RopeOps for Autodiff<B, C> {
    fn rope(
        x: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> FloatTensor<Self> {
        let state = RopeState {
            table: table.into_primitive(),
            positions: inner_positions(positions),
            spec,
        };
        let (x, prepared) = prepare::<B, C>(x);
        let output = B::rope(x, state.table.clone(), state.positions.clone(), spec);
        finish::<B, C>(prepared, output, state)
    }

    fn rope_qk(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        table: FloatTensor<Self>,
        positions: PositionsPrimitive<Self>,
        spec: RopeSpec,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let state = RopeState {
            table: table.into_primitive(),
            positions: inner_positions(positions),
            spec,
        };
        let (q, q_prepared) = prepare::<B, C>(q);
        let (k, k_prepared) = prepare::<B, C>(k);
        let (q_out, k_out) = B::rope_qk(q, k, state.table.clone(), state.positions.clone(), spec);
        (
            finish::<B, C>(q_prepared, q_out, state.clone()),
            finish::<B, C>(k_prepared, k_out, state),
        )
    }
}
