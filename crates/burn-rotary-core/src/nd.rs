//! RoPE for images and video: a token's rotation follows its coordinates on several axes.
//!
//! Built on [`PositionAxes`]: each frequency pair follows one axis, and pair `i` of a token at
//! coordinates `c` is rotated by `c[axis(i)] * inv_freq_i`. The constructors below give the
//! frequencies and the pair-to-axis map of the common families; the coordinates come from
//! [`GridCoords`] (patches of an image or a video, with optional prefix tokens) or from any
//! `[axes, batch, seq]` int tensor (`Positions::axes` in each Burn line).
//!
//! | family | layout | axes | frequencies |
//! |---|---|---|---|
//! | Flux ([`RopeConfig::flux`]) | interleaved | one block of `axes_dim[a]` channels per axis | `theta^(-2j / axes_dim[a])` in block `a` |
//! | Wan ([`RopeConfig::wan`]) | interleaved | (frame, row, column) blocks of `D - 2·(2·(D/6))`, `2·(D/6)`, `2·(D/6)` channels | as Flux |
//! | Qwen2-VL vision ([`RopeConfig::vision_2d`]) | half | (row, column): the first half of the pairs, then the second | `theta^(-2j / (D/2))` in each half |

use crate::axes::{PositionAxes, MAX_AXES};
use crate::config::{RopeConfig, RopeLayout};
use crate::error::{check_positive, RopeError};
use crate::host_ids::{checked_product, id_buffer};

/// One axis of an N-D RoPE: how many channels of the head follow it, and their base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AxisFrequencies {
    /// Channels (even): `dim / 2` frequency pairs.
    pub dim: usize,
    /// The base of this axis's frequencies `theta^(-2j / dim)`.
    pub theta: f64,
}

impl RopeConfig {
    /// N-D RoPE with one block of channels per axis, in axis order: block `a` has
    /// `axes[a].dim` channels (`dim / 2` pairs) whose frequencies are
    /// `axes[a].theta^(-2j / axes[a].dim)`, `j = 0..dim/2`. Channels past the blocks (up to
    /// `head_dim`) pass through unrotated.
    ///
    /// ```
    /// use burn_rotary_core::{AxisFrequencies, RopeConfig, RopeLayout};
    ///
    /// // A ViT head of 64: 32 channels follow the row, 32 the column.
    /// let axis = AxisFrequencies { dim: 32, theta: 100.0 };
    /// let config = RopeConfig::per_axis(64, &[axis, axis], RopeLayout::Half).unwrap();
    /// assert_eq!(config.axes(), 2);
    /// ```
    pub fn per_axis(
        head_dim: usize,
        axes: &[AxisFrequencies],
        layout: RopeLayout,
    ) -> Result<Self, RopeError> {
        if axes.is_empty() || axes.len() > MAX_AXES {
            return Err(RopeError::invalid(
                "axes_dim",
                format!("{:?}", dims(axes)),
                format!("1..={MAX_AXES} axes"),
            ));
        }
        for axis in axes {
            if axis.dim == 0 || !axis.dim.is_multiple_of(2) {
                return Err(RopeError::invalid(
                    "axes_dim",
                    format!("{:?}", dims(axes)),
                    format!("even channel counts > 0, not {}", axis.dim),
                ));
            }
            check_positive("theta", axis.theta)?;
        }
        let rotary_dim = axes
            .iter()
            .try_fold(0usize, |sum, a| sum.checked_add(a.dim));
        let rotary_dim = rotary_dim.filter(|&r| r <= head_dim).ok_or_else(|| {
            RopeError::invalid(
                "axes_dim",
                format!("{:?}", dims(axes)),
                format!("channel counts that sum to at most head_dim = {head_dim}"),
            )
        })?;
        let inv_freq = axes
            .iter()
            .flat_map(|a| (0..a.dim / 2).map(|j| a.theta.powf(-2.0 * j as f64 / a.dim as f64)))
            .collect();
        let config = RopeConfig::new(head_dim)
            .with_rotary_dim((rotary_dim < head_dim).then_some(rotary_dim))
            .with_theta(axes[0].theta)
            .with_layout(layout)
            .with_inv_freq(Some(inv_freq))
            .with_position_axes(Some(PositionAxes::Sections(
                axes.iter().map(|a| a.dim / 2).collect(),
            )));
        config.validate()?;
        Ok(config)
    }

    /// Flux's RoPE (diffusers' `FluxPosEmbed`): one block of `axes_dim[a]` channels per
    /// coordinate axis with base `theta`, interleaved pairs; head dim `sum(axes_dim)`.
    /// Flux.1 uses `theta = 10000`, `axes_dim = [16, 56, 56]` over (text index, row, column),
    /// its text tokens at all-zero coordinates.
    ///
    /// ```
    /// use burn_rotary_core::RopeConfig;
    ///
    /// let config = RopeConfig::flux(10_000.0, &[16, 56, 56]).unwrap();
    /// assert_eq!((config.head_dim, config.axes()), (128, 3));
    /// ```
    pub fn flux(theta: f64, axes_dim: &[usize]) -> Result<Self, RopeError> {
        let axes: Vec<_> = axes_dim
            .iter()
            .map(|&dim| AxisFrequencies { dim, theta })
            .collect();
        Self::per_axis(axes_dim.iter().sum(), &axes, RopeLayout::Interleaved)
    }

    /// Wan's video RoPE (diffusers' `WanRotaryPosEmbed`): (frame, row, column) blocks of
    /// `t = D - 2·(2·(D/6))`, `h = w = 2·(D/6)` channels of the head dim `D`, base `theta`
    /// (Wan 2.1: 10000), interleaved pairs.
    pub fn wan(head_dim: usize, theta: f64) -> Result<Self, RopeError> {
        let hw = 2 * (head_dim / 6);
        let t = head_dim.checked_sub(2 * hw).filter(|&t| t > 0 && hw > 0);
        let t = t.ok_or_else(|| {
            RopeError::invalid("head_dim", head_dim, "a Wan head dim of at least 6")
        })?;
        let axes = [t, hw, hw].map(|dim| AxisFrequencies { dim, theta });
        Self::per_axis(head_dim, &axes, RopeLayout::Interleaved)
    }

    /// 2-D axial RoPE over the whole head, as Qwen2-VL's vision tower
    /// (`VisionRotaryEmbedding` + `apply_rotary_pos_emb_vision`): half layout; the first
    /// `D/4` pairs follow the row, the last `D/4` the column, both with frequencies
    /// `theta^(-2j / (D/2))`. `head_dim` must be a multiple of 4.
    pub fn vision_2d(head_dim: usize, theta: f64) -> Result<Self, RopeError> {
        if head_dim == 0 || !head_dim.is_multiple_of(4) {
            return Err(RopeError::invalid(
                "head_dim",
                head_dim,
                "a multiple of 4 (two axes of whole pairs)",
            ));
        }
        let axis = AxisFrequencies {
            dim: head_dim / 2,
            theta,
        };
        Self::per_axis(head_dim, &[axis, axis], RopeLayout::Half)
    }
}

fn dims(axes: &[AxisFrequencies]) -> Vec<usize> {
    axes.iter().map(|a| a.dim).collect()
}

/// Coordinates of the tokens of an image or a video: an optional run of prefix tokens (CLS,
/// registers, text), then the patches of a grid in row-major order (last axis fastest).
///
/// A prefix token sits at a fixed coordinate, all zeros by default: at coordinate 0 on every
/// axis the rotation is the identity (times the attention factor), so such tokens are left
/// unrotated, as Flux's text tokens are. To keep patch `(0, 0)` apart from them, start the grid
/// at 1 with [`GridCoords::with_origin`].
///
/// ```
/// use burn_rotary_core::GridCoords;
///
/// // A CLS token at (0, 0), then a 2 x 3 grid of patches starting at (1, 1).
/// let grid = GridCoords::new(&[2, 3]).with_prefix(1).with_origin(&[1, 1]);
/// assert_eq!(grid.len(), 7);
/// assert_eq!(
///     grid.coords(),
///     [
///         0, 1, 1, 1, 2, 2, 2, // rows
///         0, 1, 2, 3, 1, 2, 3, // columns
///     ]
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridCoords {
    shape: Vec<usize>,
    origin: Vec<usize>,
    prefix: usize,
    prefix_at: Vec<usize>,
}

impl GridCoords {
    /// A grid of `shape` patches (`[h, w]` for an image, `[t, h, w]` for a video), at
    /// coordinates `0..shape[a]` on axis `a`, without prefix tokens.
    pub fn new(shape: &[usize]) -> Self {
        Self {
            shape: shape.to_vec(),
            origin: vec![0; shape.len()],
            prefix: 0,
            prefix_at: vec![0; shape.len()],
        }
    }

    /// `count` prefix tokens before the patches, at all-zero coordinates.
    pub fn with_prefix(mut self, count: usize) -> Self {
        self.prefix = count;
        self
    }

    /// The coordinates of the prefix tokens (one per axis).
    ///
    /// # Panics
    /// If `at` does not have one value per axis of the grid.
    pub fn with_prefix_at(mut self, at: &[usize]) -> Self {
        assert!(
            at.len() == self.shape.len(),
            "GridCoords::with_prefix_at: expected {} coordinates, got {at:?}",
            self.shape.len()
        );
        self.prefix_at = at.to_vec();
        self
    }

    /// The coordinates of the first patch (one per axis): patch `p` sits at `origin + p`.
    ///
    /// # Panics
    /// If `origin` does not have one value per axis of the grid.
    pub fn with_origin(mut self, origin: &[usize]) -> Self {
        assert!(
            origin.len() == self.shape.len(),
            "GridCoords::with_origin: expected {} coordinates, got {origin:?}",
            self.shape.len()
        );
        self.origin = origin.to_vec();
        self
    }

    /// The number of axes.
    pub fn axes(&self) -> usize {
        self.shape.len()
    }

    /// The number of tokens: prefix and patches.
    ///
    /// # Panics
    /// If the count overflows `usize`.
    pub fn len(&self) -> usize {
        self.tokens()
            .unwrap_or_else(|| panic!("GridCoords::len: {} overflows a token count", self.what()))
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn tokens(&self) -> Option<usize> {
        checked_product(self.shape.iter().copied())?.checked_add(self.prefix)
    }

    fn what(&self) -> String {
        format!(
            "a grid of {:?} patches and {} prefix tokens",
            self.shape, self.prefix
        )
    }

    /// The coordinates laid out `[axes, tokens]`.
    ///
    /// # Panics
    /// If there are more than [`MAX_HOST_IDS`](crate::MAX_HOST_IDS) coordinates.
    pub fn coords(&self) -> Vec<i64> {
        let mut coords = id_buffer(
            "GridCoords::coords",
            &|| self.what(),
            self.tokens().and_then(|t| t.checked_mul(self.axes())),
        );
        let patches = self.len() - self.prefix;
        let wide = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
        for a in 0..self.axes() {
            // Patch p's index on axis a, row-major.
            let inner: usize = self.shape[a + 1..].iter().product();
            coords.extend(std::iter::repeat_n(wide(self.prefix_at[a]), self.prefix));
            coords.extend(
                (0..patches)
                    .map(|p| wide(self.origin[a].saturating_add(p / inner % self.shape[a]))),
            );
        }
        coords
    }
}
