//! Turning `--backend ndarray|wgpu|cuda` into a backend type parameter.

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;

/// Work that is generic over the backend; [`run_on`] picks the type from a name.
pub trait BackendTask {
    /// What the work returns.
    type Output;
    /// Runs the work on backend `B`'s default device.
    fn run<B: RopeBackend>(self, device: B::Device) -> Self::Output;
}

/// The backends this build can run, by name.
pub fn available_backends() -> Vec<&'static str> {
    let mut names = Vec::new();
    if cfg!(feature = "ndarray") {
        names.push("ndarray");
    }
    if cfg!(feature = "wgpu") {
        names.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        names.push("cuda");
    }
    names
}

/// Runs `task` on the backend called `name`, or says why it cannot.
pub fn run_on<T: BackendTask>(name: &str, task: T) -> Result<T::Output, String> {
    match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(task.run::<burn::backend::NdArray>(Default::default())),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(task.run::<burn::backend::Wgpu>(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(task.run::<burn::backend::Cuda>(Default::default())),
        other => Err(format!(
            "backend `{other}` is not available in this build (available: {}; build with \
             `--features cuda` for cuda)",
            available_backends().join(", ")
        )),
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

/// Runs `task` on `Autodiff<backend called name>`, or says why it cannot.
pub fn run_train_on<T: TrainTask>(name: &str, task: T) -> Result<T::Output, String> {
    use burn::backend::Autodiff;
    match name {
        #[cfg(feature = "ndarray")]
        "ndarray" => Ok(task.run::<Autodiff<burn::backend::NdArray>>(Default::default())),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(task.run::<Autodiff<burn::backend::Wgpu>>(Default::default())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(task.run::<Autodiff<burn::backend::Cuda>>(Default::default())),
        other => Err(format!(
            "backend `{other}` is not available in this build (available: {}; build with \
             `--features cuda` for cuda)",
            available_backends().join(", ")
        )),
    }
}
