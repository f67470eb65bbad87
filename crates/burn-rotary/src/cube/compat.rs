//! The cubecl 0.10 (Burn 0.21) side of the per-line shim that lets [`super::rope_kernel`] be one
//! text for both Burn lines: the type of `#[define]` values and the per-lane access to a
//! `Vector` (indexing in 0.10, `extract` / `insert` in 0.11).

pub use cubecl;
use cubecl::prelude::*;

/// What a `#[define(..)]` kernel parameter holds (`ElemType` in cubecl 0.11).
pub type DefineType = StorageType;

/// Lane `j` of `v` (`v.extract(j)` in cubecl 0.11).
#[cube]
pub fn lane<P: Scalar, N: Size>(v: Vector<P, N>, #[comptime] j: usize) -> P {
    v[j]
}

/// Sets lane `j` of `v` to `x` (`v.insert(j, x)` in cubecl 0.11).
#[cube]
pub fn set_lane<P: Scalar, N: Size>(v: &mut Vector<P, N>, #[comptime] j: usize, x: P) {
    v[j] = x;
}
