//! The cubecl 0.11 (Burn 0.22) side of the per-line shim that lets [`super::rope_kernel`] keep
//! the text of the 0.21 line's kernel (cubecl 0.10): the type of `#[define]` values and the
//! per-lane access to a `Vector` (indexing in 0.10, `extract` / `insert` in 0.11).

pub use burn_cubecl::cubecl;
use cubecl::prelude::*;

/// What a `#[define(..)]` kernel parameter holds (`StorageType` in cubecl 0.10).
pub type DefineType = ElemType;

/// Lane `j` of `v` (`v[j]` in cubecl 0.10).
#[cube]
pub fn lane<P: Scalar, N: Size>(v: Vector<P, N>, #[comptime] j: usize) -> P {
    v.extract(j)
}

/// Sets lane `j` of `v` to `x` (`v[j] = x` in cubecl 0.10).
#[cube]
pub fn set_lane<P: Scalar, N: Size>(v: &mut Vector<P, N>, #[comptime] j: usize, x: P) {
    v.insert(j, x);
}
