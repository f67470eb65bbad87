//! Deterministic parallelism: independent jobs on a few worker threads, each job's tensor ops
//! on one thread.
//!
//! NdArray runs an op's parallel parts on rayon's current pool. Its ops split their outputs
//! (matmul per batch, then matrixmultiply's row and column blocks; elementwise ops by chunks),
//! so thread count does not change what they sum or in which order, but small ops pay for the
//! threads' synchronisation, and concurrent jobs on one process-wide pool fight over it. Here
//! every worker owns a one-thread rayon pool and runs its jobs inside it: each job computes
//! what it would alone, whichever worker takes it, and results are returned in job order.
//! Work that must be sequential in a fixed order (drawing initial weights from the backend's
//! seeded RNG) is done by the caller before the jobs start. (The run-to-run differences of
//! NdArray training come from buffer addresses, not threads: see [`super::AlignedAlloc`].)

use std::collections::VecDeque;
use std::sync::Mutex;

/// Runs `f` on every job on `workers` threads (jobs are taken in order; give the longest
/// first), returning the results in job order. A job that panics makes this panic after the
/// others have finished, with the job's message.
pub fn run_jobs<T, R, F>(jobs: Vec<T>, workers: usize, f: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let count = jobs.len();
    let queue = Mutex::new(jobs.into_iter().enumerate().collect::<VecDeque<_>>());
    let results: Mutex<Vec<Option<std::thread::Result<R>>>> =
        Mutex::new((0..count).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, count.max(1)) {
            scope.spawn(|| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .expect("a one-thread rayon pool");
                loop {
                    let Some((i, job)) = queue.lock().expect("job queue").pop_front() else {
                        break;
                    };
                    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        pool.install(|| f(job))
                    }));
                    results.lock().expect("job results")[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("job results")
        .into_iter()
        .map(|r| match r.expect("every job ran") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

/// Worker threads for `run_jobs`: the machine's cores, capped at `max`.
pub fn default_workers(max: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, max.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_job_order() {
        let out = run_jobs((0..20).collect(), 3, |i: u64| {
            std::thread::sleep(std::time::Duration::from_millis(20 - i));
            i * i
        });
        assert_eq!(out, (0..20).map(|i| i * i).collect::<Vec<_>>());
    }

    #[test]
    fn a_job_runs_on_a_one_thread_pool() {
        let out = run_jobs(vec![(); 4], 2, |_| rayon::current_num_threads());
        assert_eq!(out, [1; 4]);
    }
}
