//! Turning `--backend ndarray|wgpu|cuda` into a backend type parameter, and telling whether a
//! backend can start on this machine before anything runs on it.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use burn_rotary::RopeBackend;

/// Work that is generic over the backend; [`run_on`] picks the type from a name.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on backend `B`'s default device.
    fn run<B: RopeBackend>(self, device: B::Device) -> Self::Output;
}

/// wgpu without fusion: the fused RoPE kernel launched directly (`--backend wgpu-kernel`).
#[cfg(feature = "wgpu")]
pub type WgpuKernel = burn_cubecl::CubeBackend<burn::backend::wgpu::WgpuRuntime, f32, i32, u32>;
/// CUDA without fusion (`--backend cuda-kernel`).
#[cfg(feature = "cuda")]
pub type CudaKernel = burn_cubecl::CubeBackend<cubecl::cuda::CudaRuntime, f32, i32, u8>;

/// Candle (deprecated by Burn 0.21, still shipped): on burn-rotary's tensor-op path.
#[cfg(feature = "candle")]
#[allow(deprecated)]
pub type Candle = burn::backend::Candle;
/// Burn's router over NdArray and Flex (what `RemoteBackend` is built on): tensor-op path.
#[cfg(feature = "router")]
pub type Router = burn::backend::Router<(burn::backend::NdArray, burn::backend::Flex)>;

/// The backends this build can run, by name.
pub fn available_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        names.extend(["wgpu", "wgpu-kernel"]);
    }
    if cfg!(feature = "cuda") {
        names.extend(["cuda", "cuda-kernel"]);
    }
    names
}

/// Runs `task` on the backend called `name`, or says in one line why it cannot: not in this
/// build, or unable to start on this machine ([`probe`]).
pub fn run_on<T: BackendTask>(name: &str, task: T) -> Result<T::Output, String> {
    probe(name)?;
    match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(task.run::<burn::backend::NdArray>(Default::default())),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(task.run::<burn::backend::Wgpu>(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(task.run::<burn::backend::Cuda>(Default::default())),
        #[cfg(feature = "wgpu")]
        "wgpu-kernel" => Ok(task.run::<WgpuKernel>(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda-kernel" => Ok(task.run::<CudaKernel>(Default::default())),
        other => Err(not_in_build(other)),
    }
}

/// Training work: generic over an autodiff backend whose inner backend also runs RoPE.
pub trait TrainTask {
    /// What the work returns.
    type Output;
    /// Runs the work on `B`'s default device.
    fn run<B>(self, device: B::Device) -> Self::Output
    where
        B: AutodiffBackend + RopeBackend,
        B::InnerBackend: RopeBackend;
}

/// Runs `task` on `Autodiff<backend called name>`, or says in one line why it cannot.
pub fn run_train_on<T: TrainTask>(name: &str, task: T) -> Result<T::Output, String> {
    use burn::backend::Autodiff;
    probe(name)?;
    match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(task.run::<Autodiff<burn::backend::NdArray>>(Default::default())),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(task.run::<Autodiff<burn::backend::Wgpu>>(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(task.run::<Autodiff<burn::backend::Cuda>>(Default::default())),
        other => Err(not_in_build(other)),
    }
}

fn not_in_build(name: &str) -> String {
    format!(
        "backend `{name}` is not available in this build (available: {}; build with \
         `--features cuda` for cuda)",
        available_backends().join(", ")
    )
}

/// What each backend needs from the system, for the message of a backend that cannot start.
fn requirement(name: &str) -> &'static str {
    match name {
        "wgpu" | "wgpu-kernel" => {
            "no Vulkan/Metal/DX12 adapter found; install a Vulkan driver \
             (`apt-get install mesa-vulkan-drivers libvulkan1` gives a software one)"
        }
        "cuda" | "cuda-kernel" => {
            "no CUDA device found; it needs an NVIDIA GPU and its driver (libcuda)"
        }
        _ => "it failed to start",
    }
}

/// Whether the backend called `name` can start on this machine: `Err` is one line naming the
/// backend, what is missing and how to get it.
///
/// It runs one tiny op on the backend's default device, once per process (the answer is
/// cached). A backend that cannot start panics inside Burn (wgpu: "No possible adapter
/// available"); the probe catches that panic and keeps its backtrace off the terminal.
pub fn probe(name: &str) -> Result<(), String> {
    /// Each backend probed so far, with its answer.
    type Probed = Vec<(String, Result<(), String>)>;
    static PROBED: OnceLock<Mutex<Probed>> = OnceLock::new();
    let probed = PROBED.get_or_init(Default::default);
    let mut probed = probed.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, status)) = probed.iter().find(|(n, _)| n == name) {
        return status.clone();
    }
    let status = match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => starts::<burn::backend::NdArray>(name),
        #[cfg(feature = "wgpu")]
        "wgpu" => starts::<burn::backend::Wgpu>(name),
        #[cfg(feature = "cuda")]
        "cuda" => starts::<burn::backend::Cuda>(name),
        #[cfg(feature = "wgpu")]
        "wgpu-kernel" => starts::<WgpuKernel>(name),
        #[cfg(feature = "cuda")]
        "cuda-kernel" => starts::<CudaKernel>(name),
        #[cfg(feature = "candle")]
        "candle" => starts::<Candle>(name),
        #[cfg(feature = "flex")]
        "flex" => starts::<burn::backend::Flex>(name),
        #[cfg(feature = "router")]
        "router" => starts::<Router>(name),
        other => Err(not_in_build(other)),
    };
    probed.push((name.to_string(), status.clone()));
    status
}

fn starts<B: Backend>(name: &str) -> Result<(), String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let device = B::Device::default();
        let x = Tensor::<B, 1>::from_floats([1.0, 2.0], &device);
        (x * 2.0)
            .into_data()
            .to_vec::<f32>()
            .map(|v| v == [2.0, 4.0])
    }));
    panic::set_hook(hook);
    match result {
        Ok(Ok(true)) => Ok(()),
        Ok(_) => Err(format!(
            "backend `{name}` cannot start: a test op gave a wrong result"
        )),
        Err(payload) => {
            let said = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            // A backend that fails on its device thread leaves the caller a bare RecvError.
            let said = said.lines().next().unwrap_or_default();
            let said = if said.contains("RecvError") {
                String::new()
            } else {
                format!(" (it said: {said})")
            };
            Err(format!(
                "backend `{name}` cannot start on this machine: {}{said}",
                requirement(name)
            ))
        }
    }
}

/// The environment variable under which a backend of this build that cannot start is a test
/// failure rather than a skip (CI sets it).
pub const REQUIRE_BACKENDS_VAR: &str = "BURN_ROTARY_REQUIRE_BACKENDS";

/// Whether [`REQUIRE_BACKENDS_VAR`] is set to something other than `0` or empty.
pub fn backends_required() -> bool {
    std::env::var(REQUIRE_BACKENDS_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}
