//! The flags of `scaling_bench` (clap), applied over the default or `--quick` preset and
//! checked: a bad value is a one-line error naming the flag and the value.

use std::path::PathBuf;

use clap::Parser;

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;

use super::config::{BenchConfig, TextSource};
use super::{markdown, run, write_csv, write_plots};
use crate::backend_choice::{run_train_on, TrainTask};
use crate::cli::{at_least_1, count, positive, train_backend, CliExit};

/// Which RoPE scaling runs a model beyond the context it was trained on? Trains byte-level
/// models at a short context L from several seeds, on text and on a synthetic retrieval task,
/// scores every scaling method at L..16L, fine-tunes position interpolation and YaRN briefly,
/// and prints the tables (mean ± std over seeds) and a verdict against the literature. Writes
/// results.md, scaling.csv, the plots and corpus.txt to --out.
#[derive(Parser, Debug, Clone)]
#[command(name = "scaling_bench")]
pub struct Cli {
    /// A small run (about a minute on 2 cores): L = 32, fewer steps and scored tokens.
    #[arg(long)]
    pub quick: bool,
    /// Backend.
    #[arg(long, value_name = "NAME", default_value = "ndarray", value_parser = train_backend)]
    pub backend: String,
    /// Folder of the outputs and the model cache (`models/`); files there are replaced only
    /// once a run has succeeded.
    #[arg(long, value_name = "DIR", default_value = "results/scaling_bench")]
    pub out: PathBuf,
    /// Train the models anew instead of loading them from the cache (replaced once done).
    #[arg(long)]
    pub retrain: bool,
    /// Training seeds 1..=N (one model per task and seed) [default: 3].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub seeds: Option<usize>,
    /// Worker threads [default: the cores, at most 2].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// The bytes of this file as the text, instead of the Rust sources of the pinned
    /// dependencies.
    #[arg(long, value_name = "FILE")]
    pub text: Option<PathBuf>,
    /// Training context L in tokens [default: 64; --quick: 32].
    #[arg(long, value_name = "L", value_parser = at_least_1, allow_negative_numbers = true)]
    pub train_len: Option<usize>,
    /// Training steps of the text model [default: 400; --quick: 120].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Training steps of the retrieval model [default: 800; --quick: 120].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub retrieval_steps: Option<usize>,
    /// Peak learning rate of the retrieval model [default: 0.003].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub retrieval_lr: Option<f64>,
    /// Text only: no retrieval model.
    #[arg(long, conflicts_with_all = ["retrieval_steps", "retrieval_lr", "pairs", "record_every"])]
    pub no_retrieval: bool,
    /// Retrieval records per sequence at least (one queried, the others distract) [default: 2].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub pairs: Option<usize>,
    /// One retrieval record per N tokens where that is more than --pairs, 0 for off
    /// [default: 4].
    #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
    pub record_every: Option<usize>,
    /// Sequences per training step [default: 32].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Peak learning rate of the text model [default: 0.003].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Scored lengths as multiples of L [default: 1,2,4,8,16].
    #[arg(long, value_name = "R,R,..", value_parser = ratios)]
    pub ratios: Option<Ratios>,
    /// Held-out text tokens scored per length, method and seed [default: 4096; --quick: 1024].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub eval_tokens: Option<usize>,
    /// Retrieval sequences per depth, length, method and seed [default: 8; --quick: 4].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub eval_per_depth: Option<usize>,
    /// Tokens per scoring batch [default: 2048].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub eval_batch_tokens: Option<usize>,
    /// Validation tokens per candidate in LongRoPE's search [default: 1024; --quick: 256].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub search_tokens: Option<usize>,
    /// Fine-tuning steps of position interpolation and YaRN, 0 for none [default: 40;
    /// --quick: 10].
    #[arg(long, value_name = "STEPS", value_parser = count, allow_negative_numbers = true)]
    pub finetune: Option<usize>,
    /// They are fine-tuned at this multiple of L, one of --ratios [default: 4].
    #[arg(long, value_name = "R", value_parser = at_least_1, allow_negative_numbers = true)]
    pub finetune_ratio: Option<usize>,
    /// Width of the residual stream [default: 128].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub d_model: Option<usize>,
    /// Blocks [default: 2].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub layers: Option<usize>,
    /// Query heads; they must divide --d-model [default: 2].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub heads: Option<usize>,
    /// Key-value heads; they must divide --heads [default: 1].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub kv_heads: Option<usize>,
    /// MLP hidden width [default: 256].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub d_ff: Option<usize>,
    /// RoPE base θ [default: 10000].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub theta: Option<f64>,
    /// LongRoPE's long factors (rotary_dim / 2 positive numbers) instead of its search.
    #[arg(long, value_name = "F,F,..", value_parser = factors, allow_negative_numbers = true)]
    pub longrope_factors: Option<Factors>,
}

/// Scored length ratios.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ratios(pub Vec<usize>);

/// LongRoPE long factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors(pub Vec<f64>);

/// What a parsed command line asks for.
#[derive(Debug, Clone)]
pub struct Args {
    /// Backend name.
    pub backend: String,
    /// Output folder.
    pub out: PathBuf,
    /// Train anew instead of loading cached models.
    pub retrain: bool,
    /// The run.
    pub config: BenchConfig,
}

/// Parses the command line (`args` starts with the program name) over the default or
/// `--quick` preset, and checks the run ([`BenchConfig::validate`]).
pub fn parse_args<I, T>(args: I) -> Result<Args, CliExit>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli: Cli = crate::cli::parse(args)?;
    let mut c = match cli.quick {
        true => BenchConfig::quick(),
        false => BenchConfig::standard(),
    };
    if let Some(n) = cli.seeds {
        c.seeds = (1..=n as u64).collect();
    }
    if let Some(path) = cli.text {
        c.text = TextSource::File(path);
    }
    if cli.no_retrieval {
        c.retrieval = None;
    }
    if let Some(r) = &mut c.retrieval {
        r.n_pairs = cli.pairs.unwrap_or(r.n_pairs);
        r.record_every = cli.record_every.unwrap_or(r.record_every);
    }
    let set = |target: &mut usize, value: Option<usize>| *target = value.unwrap_or(*target);
    set(&mut c.workers, cli.workers);
    set(&mut c.train.seq_len, cli.train_len);
    set(&mut c.train.steps, cli.steps);
    set(&mut c.retrieval_train.steps, cli.retrieval_steps);
    set(&mut c.train.batch_size, cli.batch_size);
    set(&mut c.eval_tokens, cli.eval_tokens);
    set(&mut c.eval_per_depth, cli.eval_per_depth);
    set(&mut c.eval_batch_tokens, cli.eval_batch_tokens);
    set(&mut c.search_tokens, cli.search_tokens);
    set(&mut c.finetune_steps, cli.finetune);
    set(&mut c.finetune_ratio, cli.finetune_ratio);
    let m = &mut c.model;
    set(&mut m.d_model, cli.d_model);
    set(&mut m.n_layers, cli.layers);
    set(&mut m.n_heads, cli.heads);
    set(&mut m.d_ff, cli.d_ff);
    m.n_kv_heads = cli.kv_heads.or(m.n_kv_heads);
    m.rope.theta = cli.theta.unwrap_or(m.rope.theta);
    c.train.learning_rate = cli.lr.unwrap_or(c.train.learning_rate);
    c.retrieval_train.learning_rate = cli.retrieval_lr.unwrap_or(c.retrieval_train.learning_rate);
    if let Some(Ratios(ratios)) = cli.ratios {
        c.ratios = ratios;
    }
    c.long_factor = cli.longrope_factors.map(|Factors(f)| f);
    let (d_model, heads) = (c.model.d_model, c.model.n_heads);
    if !d_model.is_multiple_of(heads) {
        return Err(CliExit::Error(format!(
            "--heads {heads} must divide --d-model {d_model}"
        )));
    }
    let kv_heads = c.model.kv_heads();
    if !heads.is_multiple_of(kv_heads) {
        return Err(CliExit::Error(format!(
            "--kv-heads {kv_heads} must divide --heads {heads}"
        )));
    }
    c.model.rope.head_dim = d_model / heads;
    c.validate().map_err(CliExit::Error)?;
    Ok(Args {
        backend: cli.backend,
        out: cli.out,
        retrain: cli.retrain,
        config: c,
    })
}

fn ratios(s: &str) -> Result<Ratios, String> {
    s.split(',')
        .map(at_least_1)
        .collect::<Result<_, _>>()
        .map(Ratios)
}

fn factors(s: &str) -> Result<Factors, String> {
    s.split(',')
        .map(positive)
        .collect::<Result<_, _>>()
        .map(Factors)
}

/// Runs the benchmark the command line asks for on its backend, prints the tables and writes
/// the outputs. The work is generic over the backend: it is instantiated here, once, so the
/// example binary only parses and calls (its build stays short).
pub fn run_cli(args: Args) -> Result<(), String> {
    run_train_on(&args.backend.clone(), Task(args))?
}

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
        let write =
            |name: &str, text: &str| super::write_atomic(&out.join(name), text).map_err(write_err);
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
