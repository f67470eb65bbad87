//! Fixture checks that report a panic of the code under test as their error, so that one bad
//! case does not stop a parity run.

/// Runs a fixture check, reporting a panic of the code under test as its error.
pub fn catching_panics<T>(check: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        Err(format!("panicked: {message}"))
    })
}
