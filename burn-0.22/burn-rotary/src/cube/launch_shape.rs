//! How a launch of the [RoPE kernel](super::rope_kernel) is shaped: the vector width of the
//! loads, how many groups the heads of a token are split into, and the overrides for tuning on
//! a new device. (Port of the 0.21 line's `launch_shape.rs`: `CubeTensor` and `Client` lost
//! their runtime parameter, nothing else changed.)

use burn_cubecl::cubecl::prelude::{Client, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;

/// Launch-shape overrides for tuning on a new device, read once from the environment:
/// `BURN_ROTARY_HEADS_PER_UNIT` (the most heads one unit loops over) and
/// `BURN_ROTARY_PLANES_PER_CUBE` (warps per cube). Unset, the defaults below apply; a value
/// that is not a positive integer is ignored.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Tuning {
    /// The most heads one unit loops over.
    pub heads_per_unit: Option<usize>,
    /// Planes (warps) per cube.
    pub planes_per_cube: Option<u32>,
}

impl Tuning {
    pub(super) fn from_env() -> Self {
        static TUNING: std::sync::OnceLock<Tuning> = std::sync::OnceLock::new();
        *TUNING.get_or_init(|| {
            let read = |name: &str| {
                std::env::var(name)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .filter(|&v| v > 0)
            };
            Tuning {
                heads_per_unit: read("BURN_ROTARY_HEADS_PER_UNIT"),
                planes_per_cube: read("BURN_ROTARY_PLANES_PER_CUBE").map(|v| v as u32),
            }
        })
    }
}

/// How many groups the heads of a token are split into: enough units to fill the device
/// (every SM's worth of threads, from its properties) but never more groups than heads. With
/// many tokens (prefill) that is 1, each unit looping over all heads; decoding `[64, 32 + 8,
/// 1, 128]` gets one head per unit. `heads_per_unit` caps the heads of one unit (more groups).
pub(super) fn head_groups(
    client: &Client,
    units: usize,
    heads: usize,
    heads_per_unit: Option<usize>,
) -> usize {
    let hardware = &client.properties().hardware;
    let per_cube = hardware.max_units_per_cube.max(1) as usize;
    let fill = match (
        hardware.num_streaming_multiprocessors,
        hardware.num_cpu_cores,
    ) {
        // Two full cubes resident per SM.
        (Some(sms), _) => sms as usize * per_cube * 2,
        (None, Some(cores)) => cores as usize * per_cube,
        (None, None) => 64 * per_cube,
    };
    let fill_groups = fill.div_ceil(units.max(1));
    let cap_groups = heads_per_unit.map_or(1, |h| heads.div_ceil(h));
    fill_groups.max(cap_groups).clamp(1, heads)
}

/// The tensor itself when its head dim is contiguous, else a contiguous copy.
pub(super) fn contiguous_head_dim(t: CubeTensor) -> CubeTensor {
    let (shape, strides) = (t.meta.shape(), t.meta.strides());
    if strides[3] == 1 || shape[3] <= 1 {
        t
    } else {
        into_contiguous(t)
    }
}

/// The widest vector every input can be read with: the head dim must be contiguous, every
/// other stride and the rotary/pass-through split must be multiples of it.
pub(super) fn vector_size(
    inputs: &[&CubeTensor],
    head_dim: usize,
    rotary_dim: usize,
    interleaved: bool,
) -> usize {
    let half = rotary_dim / 2;
    let client = &inputs[0].client;
    let mut sizes: Vec<usize> = client
        .io_optimized_vector_sizes(inputs[0].dtype.size())
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
        .into_iter()
        .find(|&n| {
            let splits = if interleaved {
                rotary_dim.is_multiple_of(n)
            } else {
                half.is_multiple_of(n)
            };
            n == 1
                || (splits
                    && (head_dim - rotary_dim).is_multiple_of(n)
                    && inputs.iter().all(|t| {
                        let (shape, strides) = (t.meta.shape(), t.meta.strides());
                        let outer = (0..3).all(|d| shape[d] == 1 || strides[d] % n == 0);
                        (strides[3] == 1 || head_dim == 1) && outer
                    }))
        })
        .unwrap_or(1)
}

/// Units per cube: CubeCL's default for element-wise work, or `planes` planes (clamped to the
/// device's limit).
pub(super) fn cube_dim(client: &Client, working_units: usize, planes: Option<u32>) -> CubeDim {
    match planes {
        Some(planes) => {
            let hardware = &client.properties().hardware;
            let plane = hardware.plane_size_max;
            let limit = (hardware.max_units_per_cube / plane.max(1)).max(1);
            CubeDim::new_2d(plane, planes.clamp(1, limit))
        }
        None => CubeDim::new(client, working_units),
    }
}
