//! The test harness of the device suite (a `harness = false` test target, run by
//! `libtest-mimic`): the same runner interface and summary line as `cargo test`'s own, plus
//!
//! - **devices that cannot start are skipped, loudly**: each device of the build is probed once
//!   ([`probe`]); one that cannot start here (wgpu without a Vulkan driver, CUDA without a GPU)
//!   is reported once on stderr with the reason, and its tests are listed as `ignored` with
//!   that reason. With `BURN_ROTARY_REQUIRE_BACKENDS=1` (CI sets it) they fail instead.
//! - **storage dtypes the device lacks are listed, not dropped**: a test run in one storage
//!   dtype ([`Test::in_dtype`]) on a device whose `supports_dtype` says no is `ignored`, with
//!   that reason (whatever `BURN_ROTARY_REQUIRE_BACKENDS` says: the device started).
//! - **replayable random inputs**: [`seed`] draws a fresh seed per test (or takes
//!   `BURN_ROTARY_SEED`), and a failing test names its seed and the command that replays it.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use burn::tensor::DType;
use burn_rotary_suite::device_choice::{REQUIRE_BACKENDS_VAR, backends_required, device, probe};
use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// The environment variable that replays a seed.
pub const SEED_VAR: &str = "BURN_ROTARY_SEED";

thread_local! {
    static SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// The seed of the running test: `BURN_ROTARY_SEED` if set, else drawn from the clock. A
/// failing test reports it.
pub fn seed() -> u64 {
    let seed = match std::env::var(SEED_VAR) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{SEED_VAR}={value:?} is not an unsigned integer")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    SEED.with(|s| s.set(Some(seed)));
    seed
}

/// A test: its name, its body and the storage dtype it needs, if any.
#[derive(Clone, Copy)]
pub struct Test {
    name: &'static str,
    body: fn(),
    dtype: Option<DType>,
}

impl Test {
    /// A test that runs wherever its device starts.
    pub const fn new(name: &'static str, body: fn()) -> Self {
        Self {
            name,
            body,
            dtype: None,
        }
    }

    /// A test whose inputs are stored in `dtype`: ignored, with the reason, on a device that
    /// does not support it.
    pub const fn in_dtype(name: &'static str, dtype: DType, body: fn()) -> Self {
        Self {
            name,
            body,
            dtype: Some(dtype),
        }
    }
}

/// The trials of one test binary, gathered device by device.
pub struct Harness {
    binary: &'static str,
    trials: Vec<Trial>,
}

impl Harness {
    /// A harness for the test target `binary` (the name `cargo test --test` takes).
    pub fn new(binary: &'static str) -> Self {
        Self {
            binary,
            trials: Vec::new(),
        }
    }

    /// Adds the tests of the device called `name` (see `device_choice::device`), named
    /// `name::test`.
    pub fn device(&mut self, name: &'static str, tests: &[Test]) {
        let status = probe(name);
        let required = backends_required();
        if let Err(reason) = &status {
            if required {
                eprintln!("error: {reason}; {REQUIRE_BACKENDS_VAR} is set, so its tests fail");
            } else {
                eprintln!(
                    "warning: {name}: {} tests SKIPPED: {reason} \
                     (set {REQUIRE_BACKENDS_VAR}=1 to make this a failure)",
                    tests.len()
                );
            }
        }
        let supports = |dtype: DType| {
            status.is_ok() && device(name).is_ok_and(|device| device.supports_dtype(dtype))
        };
        let skipped = format!("{name} cannot start on this machine, see the warning above");
        for &Test {
            name: test,
            body,
            dtype,
        } in tests
        {
            let full = format!("{name}::{test}");
            let lacks = dtype.filter(|&dtype| status.is_ok() && !supports(dtype));
            let (status, skipped) = (status.clone(), skipped.clone());
            let binary = self.binary;
            let trial = Trial::ignorable_test(full.clone(), move || match (status, lacks) {
                (Err(reason), _) if required => Err(reason.into()),
                (Err(_), _) => Ok(Completion::ignored_with(skipped)),
                (Ok(()), Some(dtype)) => Ok(Completion::ignored_with(format!(
                    "{dtype:?} storage is not supported by {name} on this machine \
                     (Device::supports_dtype)"
                ))),
                (Ok(()), None) => run(binary, &full, body).map(|()| Completion::Completed),
            });
            self.trials.push(trial);
        }
    }

    /// Runs the trials as `cargo test` would (filters, `--list`, `--test-threads`, ...) and
    /// exits with the runner's status.
    pub fn run(self) -> ! {
        libtest_mimic::run(&Arguments::from_args(), self.trials).exit()
    }
}

/// Runs one test body; a panic becomes a failure that names the test's seed.
fn run(binary: &str, name: &str, body: fn()) -> Result<(), Failed> {
    SEED.with(|s| s.set(None));
    let outcome = panic::catch_unwind(AssertUnwindSafe(body));
    let Err(payload) = outcome else {
        return Ok(());
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into());
    Err(match SEED.with(Cell::get) {
        Some(seed) => format!(
            "{message}\nseed {seed}; replay: {SEED_VAR}={seed} cargo test --release --test \
             {binary} -- {name} --exact"
        ),
        None => message,
    }
    .into())
}
