//! The test harness of the backend suites (`harness = false` test targets, run by
//! `libtest-mimic`): the same runner interface and summary line as `cargo test`'s own, plus
//!
//! - **backends that cannot start are skipped, loudly**: each backend of the build is probed
//!   once ([`probe`]); one that cannot start here (wgpu without a Vulkan driver, CUDA without a
//!   GPU) is reported once on stderr with the reason, and its tests are listed as `ignored`
//!   with that reason. With `BURN_ROTARY_REQUIRE_BACKENDS=1` (CI sets it) they fail instead.
//! - **replayable random inputs**: [`seed`] draws a fresh seed per test (or takes
//!   `BURN_ROTARY_SEED`), and a failing test names its seed and the command that replays it.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

use burn_rotary_suite::backend_choice::{backends_required, probe, REQUIRE_BACKENDS_VAR};
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

/// A test: its name and body.
pub type Test = (&'static str, fn());

/// The trials of one test binary, gathered backend by backend.
pub struct Harness {
    binary: &'static str,
    group: Option<&'static str>,
    trials: Vec<Trial>,
}

impl Harness {
    /// A harness for the test target `binary` (the name `cargo test --test` takes).
    pub fn new(binary: &'static str) -> Self {
        Self {
            binary,
            group: None,
            trials: Vec::new(),
        }
    }

    /// Names the tests added from now on `backend::group::test` (a module's suite: `train`,
    /// `generate`, `llama`), so a filter selects the group.
    pub fn group(&mut self, group: &'static str) {
        self.group = Some(group);
    }

    fn name(&self, backend: &str, test: &str) -> String {
        match self.group {
            Some(group) => format!("{backend}::{group}::{test}"),
            None => format!("{backend}::{test}"),
        }
    }

    /// Adds the tests of the backend called `backend`, named `backend::test`.
    pub fn backend(&mut self, backend: &'static str, tests: &[Test]) {
        let status = probe(backend);
        let required = backends_required();
        if let Err(reason) = &status {
            if required {
                eprintln!("error: {reason}; {REQUIRE_BACKENDS_VAR} is set, so its tests fail");
            } else {
                eprintln!(
                    "warning: {backend}: {} tests SKIPPED: {reason} \
                     (set {REQUIRE_BACKENDS_VAR}=1 to make this a failure)",
                    tests.len()
                );
            }
        }
        let skipped = format!("{backend} cannot start on this machine, see the warning above");
        for &(test, body) in tests {
            let name = self.name(backend, test);
            let (status, skipped) = (status.clone(), skipped.clone());
            let binary = self.binary;
            let trial = Trial::ignorable_test(name.clone(), move || match status {
                Err(reason) if required => Err(reason.into()),
                Err(_) => Ok(Completion::ignored_with(skipped)),
                Ok(()) => run(binary, &name, body).map(|()| Completion::Completed),
            });
            self.trials.push(trial);
        }
    }

    /// Lists the tests of `backend` as `ignored` with `reason`: known failures of that backend,
    /// named in every run rather than dropped.
    pub fn known_failures(&mut self, backend: &'static str, tests: &[Test], reason: &'static str) {
        for &(test, _) in tests {
            let name = self.name(backend, test);
            let trial = Trial::ignorable_test(name, move || Ok(Completion::ignored_with(reason)));
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
