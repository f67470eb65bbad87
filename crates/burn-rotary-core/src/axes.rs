//! [`PositionAxes`]: which coordinate axis each frequency pair follows (M-RoPE, 2-D / 3-D RoPE).
//!
//! Plain RoPE gives every token one position. Multimodal RoPE (Qwen2-VL's M-RoPE: temporal,
//! height, width) and image / video RoPE (a ViT's row and column, Flux's and Wan's three axes)
//! give it one coordinate per axis, and split the frequency pairs between the axes: pair `i`
//! is rotated by
//!
//! ```text
//! t_i = coord[axis(i)] * inv_freq_i
//! ```
//!
//! One mechanism serves every such model: an axis index per pair, which the fused kernel, the
//! NdArray loop and the tensor-op path all read. This type describes that map compactly, the way
//! the models' configs do.

use serde::{Deserialize, Serialize};

use crate::error::RopeError;

/// The largest number of coordinate axes a config accepts.
pub const MAX_AXES: usize = 16;

/// Which coordinate axis each frequency pair follows.
///
/// With `half = rotary_dim / 2` pairs, pair `i` is `(i, i + half)` in the half layout and
/// `(2i, 2i + 1)` in the interleaved one; the axis of pair `i` is:
///
/// ```
/// use burn_rotary_core::PositionAxes;
///
/// // Qwen2-VL's `mrope_section`: blocks of consecutive pairs.
/// let chunked = PositionAxes::Sections(vec![2, 1, 1]);
/// assert_eq!(chunked.pair_axes(4).unwrap(), [0, 0, 1, 2]);
/// // Qwen3-VL's `mrope_interleaved`: T H W T H W ..., the remainder temporal.
/// let interleaved = PositionAxes::InterleavedSections(vec![2, 1, 1]);
/// assert_eq!(interleaved.pair_axes(4).unwrap(), [0, 1, 2, 0]);
/// assert_eq!(interleaved.axes(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PositionAxes {
    /// Consecutive blocks: the first `sections[0]` pairs follow axis 0, the next `sections[1]`
    /// axis 1, and so on (Qwen2-VL's `mrope_section`; Flux's and Wan's per-axis channel blocks,
    /// in pairs). The sections sum to `rotary_dim / 2`.
    Sections(Vec<usize>),
    /// Round robin (Qwen3-VL's `mrope_interleaved`): with `n` axes, pair `i` follows axis
    /// `a = i % n` when `a > 0` and `i < n * sections[a]`, and axis 0 otherwise, so axis `a > 0`
    /// gets exactly `sections[a]` pairs and axis 0 the rest. The sections sum to
    /// `rotary_dim / 2`.
    InterleavedSections(Vec<usize>),
    /// The axis of every pair, explicitly (length `rotary_dim / 2`); the number of axes is the
    /// largest index + 1.
    PerPair(Vec<usize>),
}

impl PositionAxes {
    /// The number of coordinate axes (rows of the position ids).
    pub fn axes(&self) -> usize {
        match self {
            Self::Sections(s) | Self::InterleavedSections(s) => s.len(),
            Self::PerPair(p) => p.iter().max().map_or(0, |m| m + 1),
        }
    }

    /// The axis of each of `pairs` frequency pairs, or the error naming `position_axes`.
    pub fn pair_axes(&self, pairs: usize) -> Result<Vec<usize>, RopeError> {
        let field = "position_axes";
        let axes = self.axes();
        if axes == 0 || axes > MAX_AXES {
            return Err(RopeError::invalid(
                field,
                format!("{self:?}"),
                format!("1..={MAX_AXES} axes"),
            ));
        }
        let sum_check = |sections: &[usize]| {
            let sum = sections.iter().try_fold(0usize, |a, &s| a.checked_add(s));
            if sum == Some(pairs) {
                Ok(())
            } else {
                Err(RopeError::invalid(
                    field,
                    format!("{self:?}"),
                    format!("sections that sum to rotary_dim / 2 = {pairs} pairs"),
                ))
            }
        };
        match self {
            Self::Sections(sections) => {
                sum_check(sections)?;
                Ok(sections
                    .iter()
                    .enumerate()
                    .flat_map(|(axis, &n)| std::iter::repeat_n(axis, n))
                    .collect())
            }
            Self::InterleavedSections(sections) => {
                sum_check(sections)?;
                let n = sections.len();
                let map: Vec<usize> = (0..pairs)
                    .map(|i| match i % n {
                        a if a > 0 && i < n * sections[a] => a,
                        _ => 0,
                    })
                    .collect();
                // Each axis a > 0 gets its sections[a] pairs only if they fit in the range.
                for (a, &want) in sections.iter().enumerate().skip(1) {
                    let got = map.iter().filter(|&&m| m == a).count();
                    if got != want {
                        return Err(RopeError::invalid(
                            field,
                            format!("{self:?}"),
                            format!(
                                "interleaved sections that fit {pairs} pairs: axis {a} asks for \
                                 {want} pairs, the round robin gives it {got}"
                            ),
                        ));
                    }
                }
                Ok(map)
            }
            Self::PerPair(map) => {
                if map.len() != pairs {
                    return Err(RopeError::invalid(
                        field,
                        format!("PerPair of length {}", map.len()),
                        format!("one axis per pair: rotary_dim / 2 = {pairs} values"),
                    ));
                }
                Ok(map.clone())
            }
        }
    }
}
