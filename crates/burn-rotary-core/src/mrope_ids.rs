//! M-RoPE position ids of a multimodal sequence (Qwen2-VL, Qwen2.5-VL, Qwen3-VL), built on the
//! host the way transformers' `get_rope_index` builds them.
//!
//! A sequence is a run of [`MropeSpan`]s. Text tokens get the same position on the three axes
//! (temporal, height, width), one more than the largest position before them. A vision grid's
//! tokens, in the language model's units (after the spatial merge), all start from that same
//! next position `p`: the token of frame `f`, row `r`, column `c` is at
//! `(p + floor(f * temporal_step), p + r, p + c)`. The text after a grid continues from the
//! grid's largest position + 1, so a sequence is shorter in positions than in tokens; the
//! difference is the *delta* a KV-cache decode continues from.

use crate::host_ids::{checked_product, id_buffer};

/// A vision grid in the language model's tokens: `frames` × `height` × `width`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VisionGrid {
    /// Temporal steps (1 for an image).
    pub frames: usize,
    /// Token rows, after the spatial merge.
    pub height: usize,
    /// Token columns, after the spatial merge.
    pub width: usize,
    /// Temporal position step between frames: 1 for Qwen2-VL; Qwen2.5-VL's videos use
    /// `second_per_grid_t * tokens_per_second` (positions are truncated to integers, as HF's
    /// `.long()`). Qwen3-VL gives each frame its own grid (`frames` 1) with its timestamp text
    /// in between.
    pub temporal_step: f64,
}

impl VisionGrid {
    /// An image of `height` × `width` tokens (after the spatial merge).
    pub fn image(height: usize, width: usize) -> Self {
        Self {
            frames: 1,
            height,
            width,
            temporal_step: 1.0,
        }
    }

    /// A grid from the processor's `image_grid_thw` / `video_grid_thw` (in patches) and the
    /// vision config's `spatial_merge_size`.
    ///
    /// # Panics
    /// If `spatial_merge_size` is 0.
    pub fn from_thw([t, h, w]: [usize; 3], spatial_merge_size: usize) -> Self {
        assert!(
            spatial_merge_size > 0,
            "VisionGrid::from_thw: spatial_merge_size 0, expected >= 1"
        );
        Self {
            frames: t,
            height: h / spatial_merge_size,
            width: w / spatial_merge_size,
            temporal_step: 1.0,
        }
    }

    /// The same grid with another temporal step (Qwen2.5-VL videos).
    ///
    /// # Panics
    /// If the step is not finite and >= 0.
    pub fn with_temporal_step(mut self, temporal_step: f64) -> Self {
        self.temporal_step = temporal_step;
        self.check_step();
        self
    }

    fn check_step(&self) {
        assert!(
            self.temporal_step.is_finite() && self.temporal_step >= 0.0,
            "VisionGrid: temporal_step {}, expected a finite step >= 0",
            self.temporal_step
        );
    }

    /// The number of tokens: `frames * height * width`.
    ///
    /// # Panics
    /// If the count overflows `usize`.
    pub fn tokens(&self) -> usize {
        self.checked_tokens()
            .unwrap_or_else(|| panic!("VisionGrid::tokens: {self:?} overflows a token count"))
    }

    fn checked_tokens(&self) -> Option<usize> {
        checked_product([self.frames, self.height, self.width])
    }
}

/// One span of a multimodal sequence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MropeSpan {
    /// Text tokens (special tokens such as `<|vision_start|>` included).
    Text(usize),
    /// The tokens of an image or video.
    Grid(VisionGrid),
}

/// The M-RoPE position ids of a sequence, `[3, seq_len]` row-major (temporal, height, width).
///
/// ```
/// use burn_rotary_core::{MropePositions, MropeSpan, VisionGrid};
///
/// // Three text tokens, a 2 × 3 image (after the merge), two text tokens.
/// let p = MropePositions::build(&[
///     MropeSpan::Text(3),
///     MropeSpan::Grid(VisionGrid::image(2, 3)),
///     MropeSpan::Text(2),
/// ]);
/// assert_eq!(p.row(0), [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7]);
/// assert_eq!(p.row(1), [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7]);
/// assert_eq!(p.row(2), [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7]);
/// assert_eq!(p.delta, 8 - 11);
/// // The next (generated) token, at cache index 11, is at position 8 on every axis.
/// assert_eq!(p.next_position(11), 8);
/// // As module positions shared by a batch:
/// // Positions::axes_from_slice(&p.ids, [3, 1, p.seq_len], &device)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MropePositions {
    /// `[3, seq_len]` ids, row-major.
    pub ids: Vec<i64>,
    /// The number of tokens.
    pub seq_len: usize,
    /// `largest position + 1 - seq_len` (HF's `rope_deltas`), 0 for an empty sequence.
    pub delta: i64,
}

impl MropePositions {
    /// The position ids of `spans`, in order. Positions saturate at `i64::MAX` (out of range
    /// of every table: such rows come out NaN).
    ///
    /// # Panics
    /// If a grid's temporal step is not finite and >= 0, or the spans hold more than
    /// [`MAX_HOST_IDS`](crate::MAX_HOST_IDS) ids.
    pub fn build(spans: &[MropeSpan]) -> Self {
        let tokens = spans.iter().try_fold(0usize, |total, span| match span {
            MropeSpan::Text(n) => total.checked_add(*n),
            MropeSpan::Grid(grid) => total.checked_add(grid.checked_tokens()?),
        });
        let what = || format!("{} spans", spans.len());
        let op = "MropePositions::build";
        let mut ids = id_buffer(op, &what, tokens.and_then(|t| t.checked_mul(3)));
        let mut rows: [Vec<i64>; 3] =
            std::array::from_fn(|_| Vec::with_capacity(tokens.unwrap_or(0)));
        let mut next = 0i64;
        for span in spans {
            match *span {
                MropeSpan::Text(n) => {
                    for row in &mut rows {
                        row.extend((0..n).map(|i| next.saturating_add(wide(i))));
                    }
                    next = next.saturating_add(wide(n));
                }
                MropeSpan::Grid(grid) => {
                    grid.check_step();
                    let mut largest = next - 1;
                    for f in 0..grid.frames {
                        // As HF's `.long()`: truncated (`as` saturates, the step is finite).
                        let t = next.saturating_add((f as f64 * grid.temporal_step) as i64);
                        for r in 0..grid.height {
                            for c in 0..grid.width {
                                let at = [
                                    t,
                                    next.saturating_add(wide(r)),
                                    next.saturating_add(wide(c)),
                                ];
                                for (row, value) in rows.iter_mut().zip(at) {
                                    row.push(value);
                                    largest = largest.max(value);
                                }
                            }
                        }
                    }
                    next = largest.saturating_add(1);
                }
            }
        }
        let seq_len = rows[0].len();
        let delta = if seq_len == 0 {
            0
        } else {
            next.saturating_sub(wide(seq_len))
        };
        ids.extend(rows.iter().flatten());
        Self {
            ids,
            seq_len,
            delta,
        }
    }

    /// The ids of one axis (0 temporal, 1 height, 2 width).
    ///
    /// # Panics
    /// If `axis > 2`.
    pub fn row(&self, axis: usize) -> &[i64] {
        assert!(axis < 3, "MropePositions::row: axis {axis} of 3");
        &self.ids[axis * self.seq_len..(axis + 1) * self.seq_len]
    }

    /// The position (the same on every axis) of the token at KV-cache index `cache_index >=
    /// seq_len`, as HF's decode computes it: `cache_index + delta`.
    pub fn next_position(&self, cache_index: usize) -> i64 {
        wide(cache_index).saturating_add(self.delta)
    }
}

/// `v` as `i64`, saturating (a position that large is out of range of every table).
fn wide(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_only_is_plain_positions() {
        let p = MropePositions::build(&[MropeSpan::Text(4)]);
        for axis in 0..3 {
            assert_eq!(p.row(axis), [0, 1, 2, 3]);
        }
        assert_eq!(p.delta, 0);
        assert_eq!(MropePositions::build(&[]).delta, 0);
    }

    #[test]
    fn qwen2_vl_video_frames_step_by_one() {
        // get_rope_index: t_index = arange(t) per frame, h/w shared by the frames.
        let grid = VisionGrid::from_thw([2, 4, 4], 2); // 2 frames of 2 x 2 tokens
        let p = MropePositions::build(&[
            MropeSpan::Text(1),
            MropeSpan::Grid(grid),
            MropeSpan::Text(1),
        ]);
        assert_eq!(p.row(0), [0, 1, 1, 1, 1, 2, 2, 2, 2, 3]);
        assert_eq!(p.row(1), [0, 1, 1, 2, 2, 1, 1, 2, 2, 3]);
        assert_eq!(p.row(2), [0, 1, 2, 1, 2, 1, 2, 1, 2, 3]);
        assert_eq!(p.delta, 4 - 10);
    }

    #[test]
    fn qwen2_5_vl_temporal_step_truncates() {
        // t_index = (arange(t) * second_per_grid_t * tokens_per_second).long()
        let grid = VisionGrid {
            frames: 3,
            height: 1,
            width: 2,
            temporal_step: 0.5,
        };
        let p = MropePositions::build(&[
            MropeSpan::Text(1),
            MropeSpan::Grid(grid),
            MropeSpan::Text(1),
        ]);
        assert_eq!(p.row(0), [0, 1, 1, 1, 1, 2, 2, 3]);
        assert_eq!(p.row(1), [0, 1, 1, 1, 1, 1, 1, 3]);
        assert_eq!(p.row(2), [0, 1, 2, 1, 2, 1, 2, 3]);
        // A long step: the text continues after the largest temporal position.
        let grid = grid.with_temporal_step(4.0);
        let p = MropePositions::build(&[MropeSpan::Grid(grid), MropeSpan::Text(1)]);
        assert_eq!(p.row(0), [0, 0, 4, 4, 8, 8, 9]);
        assert_eq!(p.delta, 10 - 7);
    }
}
