//! Which RoPE scaling should run a model beyond the context it was trained on? Trains small
//! byte-level models (head_dim 64, grouped-query attention) at a short context `L` from 3
//! seeds, on text and on a synthetic retrieval task, scores every scaling method at
//! `L, 2L, 4L, 8L, 16L`, fine-tunes position interpolation and YaRN briefly at `4L`, and prints
//! the tables (mean ± std over seeds) and a verdict against the literature.
//!
//! ```text
//! cargo run --release --example scaling_bench -- [--quick] [--backend ndarray|wgpu|cuda]
//!     [--out DIR] [--retrain] [--seeds N] [--text FILE] [--train-len L] ...
//! ```
//! (`--help` lists every flag, with its default and `--quick`'s.)
//!
//! The text is, by default, the Rust sources of crates pinned by `Cargo.lock`, read from
//! Cargo's registry cache (no download; see `burn_rotary_suite::scaling_bench::corpus`);
//! `--text FILE` uses a file's bytes instead. Trained models are cached in `<out>/models` by
//! everything that determines them; `--retrain` trains anew and replaces them once done.
//! Outputs go to `--out` (default `results/scaling_bench`): `results.md`, `scaling.csv`,
//! `loss.svg`, `loss_by_position.svg`, `accuracy.svg`, `accuracy_heatmap.svg`, `corpus.txt`;
//! each is replaced only when the run has succeeded.

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;
use burn_rotary_suite::backend_choice::{run_train_on, TrainTask};
use burn_rotary_suite::scaling_bench::cli::{parse_args, Args};
use burn_rotary_suite::scaling_bench::{markdown, run, write_csv, write_plots, AlignedAlloc};

/// Same numbers on every run: NdArray's SIMD `recip` depends on buffer alignment.
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

/// The parsed command line, run on the chosen backend.
struct Task(Args);

impl TrainTask for Task {
    type Output = Result<(), String>;

    fn run<B>(self, device: B::Device) -> Result<(), String>
    where
        B: AutodiffBackend + RopeBackend,
        B::InnerBackend: RopeBackend,
    {
        let Task(args) = self;
        let out = &args.out;
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        let c = &args.config;
        eprintln!(
            "scaling_bench on {} with {} workers: trained at {} from seeds {:?}, scored at {:?}",
            B::name(&device),
            c.workers,
            c.train_len(),
            c.seeds,
            c.lengths()
        );
        let corpus = c.text.load()?;
        let results = run::<B>(c, out, args.retrain, true, &device)?;
        let summary = markdown(&results);
        println!("{summary}");
        let write_err = |e: std::io::Error| format!("cannot write to {}: {e}", out.display());
        let write = |name: &str, text: &str| {
            burn_rotary_suite::scaling_bench::write_atomic(&out.join(name), text).map_err(write_err)
        };
        write("results.md", &summary)?;
        let manifest = format!(
            "# {}\n# FNV-1a {:016x}\n{}\n",
            corpus.source,
            corpus.fingerprint,
            corpus.files.join("\n")
        );
        write("corpus.txt", &manifest)?;
        let csv = write_csv(&results, out).map_err(write_err)?;
        println!("csv: {}", csv.display());
        println!("corpus files: {}", out.join("corpus.txt").display());
        for (plot, what) in write_plots(&results, out).map_err(write_err)? {
            println!("plot: {} — {what}", plot.display());
        }
        println!("models: {}", results.models_source);
        println!(
            "wall time: {:.1} s on {} workers",
            results.seconds, results.workers
        );
        Ok(())
    }
}

fn main() {
    // One thread per matrix product: the benchmark runs its jobs in parallel instead.
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        std::env::set_var("MATMUL_NUM_THREADS", "1");
    }
    let args = parse_args(std::env::args_os()).unwrap_or_else(|exit| exit.exit());
    let result = run_train_on(&args.backend.clone(), Task(args)).and_then(|r| r);
    if let Err(e) = result {
        eprintln!("scaling_bench: {e}");
        std::process::exit(1);
    }
}
