//! The one bound on position ids built on the host (the constructors of each Burn line's
//! `Positions`, [`GridCoords`](crate::GridCoords), [`MropePositions`](crate::MropePositions)):
//! a size past it is a panic naming the operation and the size, before any memory is touched —
//! never an abort on an impossible allocation, nor a count that wraps.

/// The most ids one host-built position list holds: 2^31 (16 GiB of `i64`), the index range
/// of the kernels.
pub const MAX_HOST_IDS: usize = 1 << 31;

/// An empty buffer with room for `len` ids.
///
/// # Panics
/// If `len` is `None` (its computation overflowed) or above [`MAX_HOST_IDS`], or the memory
/// cannot be had; the message names `op` and `what` was counted.
pub fn id_buffer(op: &str, what: &dyn Fn() -> String, len: Option<usize>) -> Vec<i64> {
    let mut ids = Vec::new();
    match len {
        Some(n) if n <= MAX_HOST_IDS && ids.try_reserve_exact(n).is_ok() => ids,
        Some(n) => panic!(
            "{op}: {} needs {n} position ids, more than the {MAX_HOST_IDS} a host list may hold",
            what()
        ),
        None => panic!("{op}: {} overflows a count of position ids", what()),
    }
}

/// `a * b * ...`, `None` on overflow.
pub fn checked_product(values: impl IntoIterator<Item = usize>) -> Option<usize> {
    values
        .into_iter()
        .try_fold(1usize, |acc, v| acc.checked_mul(v))
}
