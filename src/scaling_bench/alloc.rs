//! A global allocator that makes NdArray training deterministic across runs.
//!
//! Burn 0.21's NdArray computes `recip` (which the backward pass of every tensor division and
//! logarithm calls: RMSNorm, softmax, cross-entropy) with SIMD: the part of the buffer that is
//! aligned to the vector width goes through the approximate `rcp14`/`rcp` instruction, the
//! unaligned head and tail through an exact `1 / x` (`burn-ndarray`'s `simd/unary.rs`,
//! `align_to_mut`). Which elements are which depends on the buffer's address, which the system
//! allocator chooses differently from run to run: the same training gave losses differing in
//! the 4th decimal, and, over hundreds of steps, different models. Aligning every block of
//! [`ALIGN`] bytes or more to [`ALIGN`] (the widest vector, AVX-512) makes the split a function
//! of buffer lengths and offsets alone, so the same run computes the same numbers.
//!
//! A binary opts in with
//! `#[global_allocator] static ALLOC: AlignedAlloc = AlignedAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};

/// The alignment given to every block of at least this many bytes.
pub const ALIGN: usize = 64;

/// The system allocator, with blocks of `ALIGN` (64) bytes or more aligned to 64 bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlignedAlloc;

fn widened(layout: Layout) -> Layout {
    if layout.size() >= ALIGN && layout.align() < ALIGN {
        Layout::from_size_align(layout.size(), ALIGN).unwrap_or(layout)
    } else {
        layout
    }
}

// SAFETY: every block is allocated and freed by `System` with the same widened layout, which
// satisfies the requested one (same size, stricter alignment).
unsafe impl GlobalAlloc for AlignedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(widened(layout))
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        System.alloc_zeroed(widened(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, widened(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A new block (its alignment follows its new size), the contents copied.
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_aligned_small_ones_keep_their_layout() {
        let big = Layout::from_size_align(100, 4).unwrap();
        assert_eq!(widened(big).align(), ALIGN);
        let small = Layout::from_size_align(8, 8).unwrap();
        assert_eq!(widened(small), small);
        let a = AlignedAlloc;
        unsafe {
            let p = a.alloc(big);
            assert_eq!(p as usize % ALIGN, 0);
            let q = a.realloc(p, big, 1000);
            assert_eq!(q as usize % ALIGN, 0);
            a.dealloc(q, Layout::from_size_align(1000, 4).unwrap());
        }
    }
}
