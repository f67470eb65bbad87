//! Turning `--device flex|wgpu|cuda` (or a suite's device name) into a Burn 0.22 [`Device`], and
//! telling whether a device can start on this machine before anything runs on it.
//!
//! Burn 0.22 has no backend type parameter: the backend is the device's, chosen at run time.

use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, OnceLock};

use burn::tensor::{Device, Tensor};

/// The devices this build can run, by name.
pub fn available_devices() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "flex") {
        names.push("flex");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// The device called `name` (not started: Burn starts a device on its first op), or why this
/// build has none by that name.
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        // wgpu's best adapter: the GPU where there is one, Mesa's lavapipe on a machine without.
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0usize)),
        other => Err(not_in_build(other)),
    }
}

/// [`device`], checked by [`probe`]: the device, or one line saying why it cannot be used here.
pub fn started_device(name: &str) -> Result<Device, String> {
    probe(name)?;
    device(name)
}

fn not_in_build(name: &str) -> String {
    format!(
        "device `{name}` is not available in this build (available: {}; build with \
         `--features cuda` for cuda)",
        available_devices().join(", ")
    )
}

/// What each device needs from the system, for the message of a device that cannot start.
fn requirement(name: &str) -> &'static str {
    match name {
        "wgpu" => {
            "no Vulkan/Metal/DX12 adapter found; install a Vulkan driver \
             (`apt-get install mesa-vulkan-drivers libvulkan1` gives a software one)"
        }
        "cuda" => "no CUDA device found; it needs an NVIDIA GPU and its driver (libcuda)",
        _ => "it failed to start",
    }
}

/// Whether the device called `name` can start on this machine: `Err` is one line naming the
/// device, what is missing and how to get it.
///
/// It runs one tiny op on the device, once per process (the answer is cached). A device that
/// cannot start panics inside Burn (wgpu: "No possible adapter available"); the probe catches
/// that panic and keeps its backtrace off the terminal.
pub fn probe(name: &str) -> Result<(), String> {
    /// Each device probed so far, with its answer.
    type Probed = Vec<(String, Result<(), String>)>;
    static PROBED: OnceLock<Mutex<Probed>> = OnceLock::new();
    let probed = PROBED.get_or_init(Default::default);
    let mut probed = probed.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, status)) = probed.iter().find(|(n, _)| n == name) {
        return status.clone();
    }
    let status = device(name).and_then(|device| starts(name, device));
    probed.push((name.to_string(), status.clone()));
    status
}

fn starts(name: &str, device: Device) -> Result<(), String> {
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        let x = Tensor::<1>::from_floats([1.0, 2.0], &device);
        (x * 2.0)
            .into_data()
            .try_into_vec_as::<f32>()
            .map(|v| v == [2.0, 4.0])
    }));
    panic::set_hook(hook);
    match result {
        Ok(Ok(true)) => Ok(()),
        Ok(_) => Err(format!(
            "device `{name}` cannot start: a test op gave a wrong result"
        )),
        Err(payload) => {
            let said = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("a panic");
            // A device that fails on its own thread leaves the caller a bare RecvError.
            let said = said.lines().next().unwrap_or_default();
            let said = if said.contains("RecvError") {
                String::new()
            } else {
                format!(" (it said: {said})")
            };
            Err(format!(
                "device `{name}` cannot start on this machine: {}{said}",
                requirement(name)
            ))
        }
    }
}

/// The environment variable under which a device of this build that cannot start is a test
/// failure rather than a skip (CI sets it).
pub const REQUIRE_BACKENDS_VAR: &str = "BURN_ROTARY_REQUIRE_BACKENDS";

/// Whether [`REQUIRE_BACKENDS_VAR`] is set to something other than `0` or empty.
pub fn backends_required() -> bool {
    std::env::var(REQUIRE_BACKENDS_VAR).is_ok_and(|v| !v.is_empty() && v != "0")
}
