//! What a backend is given for one RoPE application, besides the tensors: the axis order of q
//! and k and the [`RopeSpec`].

use crate::config::RopeLayout;

/// The order of the axes of q and k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
// Exhaustive (no `#[non_exhaustive]`): the kernels of each Burn line match on it, so a new
// variant is a new minor version of every crate.
pub enum AxisOrder {
    /// `[batch, heads, seq, head_dim]`: what attention kernels take.
    #[default]
    Bhsd,
    /// `[batch, seq, heads, head_dim]`: what a fused QKV projection produces.
    Bshd,
}

impl AxisOrder {
    /// `(batch, heads, seq, head_dim)` of a 4-D shape in this order.
    pub fn split(self, dims: [usize; 4]) -> (usize, usize, usize, usize) {
        match self {
            Self::Bhsd => (dims[0], dims[1], dims[2], dims[3]),
            Self::Bshd => (dims[0], dims[2], dims[1], dims[3]),
        }
    }

    /// The 4-D shape of `(batch, heads, seq, head_dim)` in this order (the inverse of
    /// [`split`](Self::split)).
    pub fn dims(self, batch: usize, heads: usize, seq: usize, head_dim: usize) -> [usize; 4] {
        match self {
            Self::Bhsd => [batch, heads, seq, head_dim],
            Self::Bshd => [batch, seq, heads, head_dim],
        }
    }
}

/// The non-tensor parameters of one RoPE application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RopeSpec {
    /// Which elements are paired.
    pub layout: RopeLayout,
    /// How many leading dims of each head are rotated; the rest are copied.
    pub rotary_dim: usize,
    /// The axis order of the input (the output has the same).
    pub axes: AxisOrder,
    /// Rotate by `-angle` (the transpose rotation: the backward of RoPE).
    pub inverse: bool,
    /// Exclusive bound of valid positions. A row whose position is negative or at least this
    /// comes out as NaN (every element of it), never as a read outside the table.
    pub max_positions: usize,
}

impl RopeSpec {
    /// The same spec, rotating the other way.
    pub fn inverted(self) -> Self {
        Self {
            inverse: !self.inverse,
            ..self
        }
    }

    /// Panics unless a table of this shape serves this spec: `[rows, 2, rotary_dim / 2]` with
    /// the rows of [`table_rows`](crate::table::table_rows)`(max_positions)` at least, so that no
    /// valid position reads outside it. (Its dtype, `f32`, is checked by each Burn line.)
    pub fn check_table_shape(&self, op: &str, shape: &[usize]) {
        let rows = crate::table::table_rows(self.max_positions);
        let half = self.rotary_dim / 2;
        assert!(
            shape.len() == 3 && shape[0] >= rows && shape[1] == 2 && shape[2] == half,
            "{op}: expected an angle table of shape [>= {rows}, 2, {half}] (max_positions {}, \
             rotary_dim {}), got {shape:?}",
            self.max_positions,
            self.rotary_dim
        );
    }
}
