//! [`Positions`]: where the rows of q and k sit in their sequences.

use burn::tensor::{Device, Int, Tensor, TensorData};
use burn_rotary_core::internal::id_buffer;

use crate::GridCoords;
use crate::spec::PositionTensors;

/// Where the rows of q and k sit in their sequences.
///
/// # Out-of-range positions
/// A module built with `max_positions = M` accepts positions `0..M`. Where the positions are
/// known on the host — [`Positions::offset`], [`Positions::offsets_from_slice`],
/// [`Positions::ids_from_slice`] — a position outside that range is a panic naming it and `M`.
/// Where they live in a device tensor ([`Positions::offsets`], [`Positions::ids`]) they are not
/// read back: a row whose position is negative (a padding id of `-1`) or `>= M` comes out as
/// NaN in every backend (the fused kernel, the Flex loop and the tensor-op path alike), so
/// the error is loud downstream, and every other row is exact. Nothing is ever read outside
/// the angle table.
///
/// # Sequence length
/// HF's length-dependent scalings (dynamic NTK, LongRoPE) choose their frequencies from the
/// sequence length `largest position + 1`. It is known on the host for the constructors above;
/// for device tensors, set it with [`Positions::with_seq_len`]: otherwise a module with such a
/// scaling reads the largest position back from the device on **every call** (a sync).
#[derive(Debug, Clone)]
pub struct Positions {
    kind: PositionKind,
    seq_len: Option<usize>,
    /// The smallest and largest start (offsets) or id, when known on the host.
    host_range: Option<(i64, i64)>,
}

#[derive(Debug, Clone)]
enum PositionKind {
    Offset(usize),
    Offsets(Tensor<1, Int>),
    Ids(Tensor<2, Int>),
    Axes(Tensor<3, Int>),
}

impl Positions {
    /// Row `s` of every sequence is at position `offset + s` (e.g. the KV-cache length).
    pub fn offset(offset: usize) -> Self {
        Self {
            kind: PositionKind::Offset(offset),
            seq_len: None,
            host_range: None,
        }
    }

    /// Row `s` of sequence `b` is at `offsets[b] + s`: per-sequence KV-cache lengths.
    ///
    /// # Shapes
    /// - offsets: `[batch]`; a sequence whose offset is negative or runs past `max_positions`
    ///   comes out NaN (see the type's docs).
    pub fn offsets(offsets: Tensor<1, Int>) -> Self {
        Self {
            kind: PositionKind::Offsets(offsets),
            seq_len: None,
            host_range: None,
        }
    }

    /// Per-sequence offsets from the host: checked against `max_positions` at each call
    /// without a device read, and the sequence length is known without one.
    pub fn offsets_from_slice(offsets: &[usize], device: &Device) -> Self {
        let wide: Vec<i64> = offsets.iter().map(|&o| saturating_i64(o)).collect();
        Self {
            host_range: min_max(&wide),
            ..Self::offsets(device_ints(&wide, [offsets.len()], device))
        }
    }

    /// Explicit position ids, e.g. for packed sequences.
    ///
    /// # Shapes
    /// - ids: `[batch, seq]`, or `[1, seq]` shared by the batch; a row whose id is negative or
    ///   `>= max_positions` comes out NaN (see the type's docs).
    pub fn ids(ids: Tensor<2, Int>) -> Self {
        Self {
            kind: PositionKind::Ids(ids),
            seq_len: None,
            host_range: None,
        }
    }

    /// Position ids from the host, laid out `[rows, seq]` (`rows` 1 or the batch): checked
    /// against `max_positions` at each call without a device read.
    ///
    /// # Panics
    /// If `ids.len() != rows * seq`.
    pub fn ids_from_slice(ids: &[i64], [rows, seq]: [usize; 2], device: &Device) -> Self {
        assert!(
            rows.checked_mul(seq) == Some(ids.len()),
            "Positions::ids_from_slice: {} ids cannot be laid out as [{rows}, {seq}]",
            ids.len()
        );
        Self {
            host_range: min_max(ids),
            ..Self::ids(device_ints(ids, [rows, seq], device))
        }
    }

    /// Packed sequences: several documents in one row, positions restarting at 0 at each
    /// document (`lengths[b]` are the document lengths of row `b`; every row holds the same
    /// number of tokens). The sequence length of length-dependent scalings is the longest
    /// document.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use burn_rotary::Positions;
    ///
    /// // One row: documents of 3, 1 and 2 tokens -> positions 0 1 2 0 0 1.
    /// let positions = Positions::packed(&[vec![3, 1, 2]], &Device::flex());
    /// ```
    ///
    /// # Panics
    /// If the rows hold different numbers of tokens, or more ids than
    /// [`MAX_HOST_IDS`](crate::MAX_HOST_IDS).
    pub fn packed(lengths: &[Vec<usize>], device: &Device) -> Self {
        let tokens = |row: &Vec<usize>| row.iter().try_fold(0usize, |a, &l| a.checked_add(l));
        let seq = lengths.first().map_or(Some(0), tokens);
        let what = || format!("{} rows of documents {:?}", lengths.len(), lengths.first());
        let mut ids = id_buffer(
            "Positions::packed",
            &what,
            seq.and_then(|s| s.checked_mul(lengths.len())),
        );
        let seq = seq.unwrap_or_default();
        for row in lengths {
            assert!(
                tokens(row) == Some(seq),
                "Positions::packed: every row must hold {seq} tokens, got documents {row:?}"
            );
            ids.extend(row.iter().flat_map(|&len| (0..len).map(saturating_i64)));
        }
        let longest = lengths.iter().flatten().copied().max().unwrap_or(0);
        Self::ids_from_slice(&ids, [lengths.len(), seq], device).with_seq_len(longest)
    }

    /// Packed sequences from cumulative lengths (`cu_seqlens`, the varlen form flash-attn and
    /// TransformerEngine take): `[0, l1, l1 + l2, ..., total]`, one row of `total` tokens.
    ///
    /// # Panics
    /// If `cu_seqlens` does not start at 0 or decreases.
    pub fn from_cu_seqlens(cu_seqlens: &[usize], device: &Device) -> Self {
        assert!(
            cu_seqlens.first().is_none_or(|&c| c == 0)
                && cu_seqlens.windows(2).all(|w| w[0] <= w[1]),
            "Positions::from_cu_seqlens: expected cumulative lengths from 0, non-decreasing, \
             got {cu_seqlens:?}"
        );
        let lengths: Vec<usize> = cu_seqlens.windows(2).map(|w| w[1] - w[0]).collect();
        Self::packed(&[lengths], device)
    }

    /// A coordinate per axis for each row: M-RoPE's (temporal, height, width) position ids,
    /// an image patch's (row, column), a video patch's (frame, row, column). For a module whose
    /// config has [`position_axes`](crate::RopeConfig::position_axes), pair `i` of a row is
    /// rotated by its coordinate on the axis of pair `i`.
    ///
    /// # Shapes
    /// - ids: `[axes, batch, seq]`, or `[axes, 1, seq]` shared by the batch; `axes` must be the
    ///   config's [`axes`](crate::RopeConfig::axes). A row with a coordinate that is negative or
    ///   `>= max_positions` on any axis comes out NaN (see the type's docs).
    pub fn axes(ids: Tensor<3, Int>) -> Self {
        Self {
            kind: PositionKind::Axes(ids),
            seq_len: None,
            host_range: None,
        }
    }

    /// Coordinates from the host, laid out `[axes, rows, seq]` (`rows` 1 or the batch):
    /// checked against `max_positions` at each call without a device read.
    ///
    /// ```
    /// use burn::tensor::{Device, Distribution, Tensor};
    /// use burn_rotary::prelude::*;
    ///
    /// let device = Device::flex();
    /// // Qwen2-VL's M-RoPE: 64 pairs, 16 temporal, 24 height, 24 width.
    /// let rope = RopeConfig::new(128)
    ///     .with_position_axes(Some(PositionAxes::Sections(vec![16, 24, 24])))
    ///     .init(&device);
    /// // Two text tokens, then a 2x2 image at temporal position 2.
    /// let ids = [
    ///     0, 1, 2, 2, 2, 2, // temporal
    ///     0, 1, 2, 2, 3, 3, // height
    ///     0, 1, 2, 3, 2, 3, // width
    /// ];
    /// let positions = Positions::axes_from_slice(&ids, [3, 1, 6], &device);
    /// let q = Tensor::<4>::random([1, 4, 6, 128], Distribution::Default, &device);
    /// let q = rope.apply(q, &positions, AxisOrder::Bhsd);
    /// assert_eq!(q.dims(), [1, 4, 6, 128]);
    /// ```
    ///
    /// # Panics
    /// If `ids.len() != axes * rows * seq`.
    pub fn axes_from_slice(ids: &[i64], [axes, rows, seq]: [usize; 3], device: &Device) -> Self {
        assert!(
            axes.checked_mul(rows).and_then(|n| n.checked_mul(seq)) == Some(ids.len()),
            "Positions::axes_from_slice: {} ids cannot be laid out as [{axes}, {rows}, {seq}]",
            ids.len()
        );
        Self {
            host_range: min_max(ids),
            ..Self::axes(device_ints(ids, [axes, rows, seq], device))
        }
    }

    /// Sets the sequence length that length-dependent scalings use.
    pub fn with_seq_len(mut self, seq_len: usize) -> Self {
        self.seq_len = Some(seq_len);
        self
    }

    /// The sequence length: the explicit one, else the largest position + 1 (from the host
    /// when known, else read back from the device).
    pub(crate) fn seq_len(&self, seq: usize) -> usize {
        if let Some(len) = self.seq_len {
            return len;
        }
        let largest_start = match (&self.kind, self.host_range) {
            (PositionKind::Offset(offset), _) => saturating_i64(*offset),
            (_, Some((_, max))) => max,
            (PositionKind::Offsets(t), None) => device_max(t.clone()),
            (PositionKind::Ids(t), None) => device_max(t.clone().flatten(0, 1)),
            (PositionKind::Axes(t), None) => device_max(t.clone().flatten(0, 2)),
        };
        let rows_after = match self.kind {
            PositionKind::Ids(_) | PositionKind::Axes(_) => 1,
            _ => seq,
        };
        usize::try_from(largest_start.max(0))
            .unwrap_or(usize::MAX)
            .saturating_add(rows_after)
    }

    /// The position tensors for a module whose pairs follow `pair_axes` (`None`: one axis).
    /// Offsets put every axis of a row at the same position (text tokens in M-RoPE).
    pub(crate) fn tensors(&self, pair_axes: Option<&Tensor<1, Int>>) -> PositionTensors {
        match (&self.kind, pair_axes) {
            (PositionKind::Offset(offset), _) => PositionTensors::Offset(*offset),
            (PositionKind::Offsets(t), _) => PositionTensors::Offsets(t.clone()),
            (PositionKind::Ids(t), _) => PositionTensors::Ids(t.clone()),
            (PositionKind::Axes(t), Some(pair_axes)) => PositionTensors::Axes {
                ids: t.clone(),
                pair_axes: pair_axes.clone(),
            },
            // One axis (checked): plain ids.
            (PositionKind::Axes(t), None) => {
                let [_, rows, seq] = t.dims();
                PositionTensors::Ids(t.clone().reshape([rows, seq]))
            }
        }
    }

    /// Checks the shapes against the input's `batch` and `seq` and the module's number of
    /// coordinate `axes`, and the positions known on the host against `max_positions`.
    pub(crate) fn check(
        &self,
        op: &str,
        [batch, seq]: [usize; 2],
        axes: usize,
        max_positions: usize,
    ) {
        match &self.kind {
            PositionKind::Offset(_) => {}
            PositionKind::Offsets(offsets) => assert!(
                offsets.dims() == [batch],
                "{op}: expected offsets of shape [{batch}], got {:?}",
                offsets.dims()
            ),
            PositionKind::Ids(ids) => {
                let [rows, len] = ids.dims();
                assert!(
                    axes == 1,
                    "{op}: expected coordinates of shape [{axes}, {batch}, {seq}] \
                     (Positions::axes: the module's pairs follow {axes} axes), got position ids \
                     of shape {:?}",
                    ids.dims()
                );
                assert!(
                    (rows == batch || rows == 1) && len == seq,
                    "{op}: expected position ids of shape [{batch}, {seq}] or [1, {seq}], got {:?}",
                    ids.dims()
                );
            }
            PositionKind::Axes(ids) => {
                let [n, rows, len] = ids.dims();
                let shared = if batch == 1 {
                    String::new()
                } else {
                    format!(" or [{axes}, 1, {seq}]")
                };
                assert!(
                    n == axes && (rows == batch || rows == 1) && len == seq,
                    "{op}: expected coordinates of shape [{axes}, {batch}, {seq}]{shared} \
                     (axes, batch, seq), got {:?}",
                    ids.dims()
                );
            }
        }
        let (min, max, run) = match (&self.kind, self.host_range) {
            (PositionKind::Offset(offset), _) => {
                let offset = saturating_i64(*offset);
                (offset, offset, seq)
            }
            (PositionKind::Offsets(_), Some((min, max))) => (min, max, seq),
            (PositionKind::Ids(_) | PositionKind::Axes(_), Some((min, max))) => (min, max, 1),
            (_, None) => return, // device positions: out-of-range rows come out NaN
        };
        if seq == 0 {
            return;
        }
        assert!(
            min >= 0,
            "{op}: position {min} is negative (positions must be in 0..max_positions = \
             0..{max_positions})"
        );
        let last = (max as u64).saturating_add(run as u64 - 1);
        assert!(
            last < max_positions as u64,
            "{op}: position {last} is out of range: max_positions = {max_positions} (raise \
             `RopeConfig::max_positions`)"
        );
    }
}

/// An int tensor of host values, clamped to `i32` (which every backend's int type holds): a
/// clamped value is out of range for every table, and the host check names the real one.
fn device_ints<const D: usize>(
    values: &[i64],
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Int> {
    let clamped: Vec<i64> = values
        .iter()
        .map(|&v| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)))
        .collect();
    Tensor::from_data(TensorData::new(clamped, shape), device)
}

fn saturating_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn min_max(values: &[i64]) -> Option<(i64, i64)> {
    let min = values.iter().copied().min()?;
    Some((min, values.iter().copied().max()?))
}

/// The largest value of an int tensor, read back from the device (a sync).
fn device_max(t: Tensor<1, Int>) -> i64 {
    if t.dims()[0] == 0 {
        return 0;
    }
    t.max()
        .into_data()
        .try_into_vec_as::<i64>()
        .expect("int data")[0]
}

/// The coordinates of a [`GridCoords`] as [`Positions`] (the grid lives in the Burn-free core
/// crate, so this method comes with a trait: `use burn_rotary::prelude::*;`).
pub trait GridCoordsExt: crate::sealed::Sealed {
    /// The coordinates as [`Positions`], shared by the batch (`[axes, 1, tokens]`).
    ///
    /// # Panics
    /// If there are more than [`MAX_HOST_IDS`](crate::MAX_HOST_IDS) coordinates.
    fn positions(&self, device: &Device) -> Positions;
}

impl GridCoordsExt for GridCoords {
    fn positions(&self, device: &Device) -> Positions {
        Positions::axes_from_slice(&self.coords(), [self.axes(), 1, self.len()], device)
    }
}
