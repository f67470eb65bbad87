//! How `rope_bench` times a batch of calls: the wall clock to the end of the device sync, and,
//! on the CubeCL backends without fusion (`wgpu-kernel`, `cuda-kernel`), the device time of the
//! launches from CubeCL's profiler (GPU timestamps where the runtime has them).
//!
//! The profiler runs the work on the device's own thread; Burn's fusion backends then wait on
//! that thread from their own and deadlock (CubeCL 0.10 / Burn 0.21), so the fused backends get
//! the wall clock only. The kernel is the same with or without fusion.

use std::time::Instant;

/// Times of one batch, in ms per call.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// From the first call to the end of the device sync.
    pub wall_ms: f64,
    /// The device time of the batch's work, where the backend measures it.
    pub device_ms: Option<f64>,
}

impl Timing {
    /// The device time where measured, else the wall time.
    pub fn ms(&self) -> f64 {
        self.device_ms.unwrap_or(self.wall_ms)
    }
}

/// The clock of one backend.
pub enum Clock {
    /// Wall clock only.
    Wall,
    /// CubeCL's profiler of wgpu.
    #[cfg(feature = "wgpu")]
    Wgpu(cubecl::client::ComputeClient<burn::backend::wgpu::WgpuRuntime>),
    /// CubeCL's profiler of CUDA.
    #[cfg(feature = "cuda")]
    Cuda(cubecl::client::ComputeClient<cubecl::cuda::CudaRuntime>),
}

impl Clock {
    /// The clock of the backend called `name` (its default device); call it once the backend
    /// is known to start.
    pub fn for_backend(name: &str) -> Self {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        use cubecl::Runtime;
        match name {
            #[cfg(feature = "wgpu")]
            "wgpu-kernel" => {
                Self::Wgpu(burn::backend::wgpu::WgpuRuntime::client(&Default::default()))
            }
            #[cfg(feature = "cuda")]
            "cuda-kernel" => Self::Cuda(cubecl::cuda::CudaRuntime::client(&Default::default())),
            _ => Self::Wall,
        }
    }

    /// What the `ms` column measures, for the table's header.
    pub fn describe(&self) -> &'static str {
        #[cfg(any(feature = "wgpu", feature = "cuda"))]
        fn method(m: cubecl::profile::TimingMethod) -> &'static str {
            match m {
                cubecl::profile::TimingMethod::Device => {
                    "ms: device time (GPU timestamps of the launches)"
                }
                cubecl::profile::TimingMethod::System => {
                    "ms: CubeCL's profiler on the runtime's system timer (no GPU timestamps here: \
                     launch and sync overhead included, which dominates µs kernels; \
                     benches/h100.sh times those with Nsight Compute)"
                }
            }
        }
        match self {
            Self::Wall => {
                "ms: wall clock to the device sync (device time: --backend wgpu-kernel|cuda-kernel)"
            }
            #[cfg(feature = "wgpu")]
            Self::Wgpu(c) => method(c.properties().timing_method),
            #[cfg(feature = "cuda")]
            Self::Cuda(c) => method(c.properties().timing_method),
        }
    }

    /// Runs `batch` of `calls` calls (ending with a device sync) and times it per call.
    pub fn time(&self, calls: usize, batch: impl FnOnce() + Send) -> Timing {
        let start = Instant::now();
        let device_ms = match self {
            Self::Wall => {
                batch();
                None
            }
            #[cfg(feature = "wgpu")]
            Self::Wgpu(client) => profile(client, batch),
            #[cfg(feature = "cuda")]
            Self::Cuda(client) => profile(client, batch),
        };
        let per_call = |ms: f64| ms / calls as f64;
        Timing {
            wall_ms: per_call(start.elapsed().as_secs_f64() * 1e3),
            device_ms: device_ms.map(per_call),
        }
    }
}

/// The device time of `batch`'s work in ms, or `None` where the profiler refused.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
fn profile<R: cubecl::Runtime>(
    client: &cubecl::client::ComputeClient<R>,
    batch: impl FnOnce() + Send,
) -> Option<f64> {
    let ((), duration) = client.profile(batch, "rope_bench").ok()?;
    let ticks = cubecl::future::block_on(duration.resolve());
    Some(ticks.duration().as_secs_f64() * 1e3)
}
