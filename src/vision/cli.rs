//! The flags of `vit_bench` (clap), applied over the default or `--quick` preset and checked:
//! a bad value is a one-line error naming the flag and the value.

use std::path::PathBuf;

use clap::Parser;

use burn::tensor::backend::AutodiffBackend;
use burn_rotary::RopeBackend;

use super::config::{VitBenchConfig, MAX_SIDE};
use super::{markdown, run, write_outputs};
use crate::backend_choice::{run_train_on, TrainTask};
pub use crate::cli::CliExit;
use crate::cli::{at_least_1, positive, train_backend};

/// Trains a small ViT with 2-D RoPE (and one with learned absolute position embeddings) on a
/// synthetic relative-position task at one grid size, then scores both on larger grids: RoPE as
/// trained, RoPE stretched by coordinate interpolation or NTK θ scaling, learned embeddings
/// resampled bilinearly. Prints the tables and writes results.md, vit_bench.csv, accuracy.svg
/// and loss.svg to --out.
#[derive(Parser, Debug, Clone)]
#[command(name = "vit_bench")]
pub struct Cli {
    /// A small run (about a minute on 2 cores): one seed, fewer steps and images, grids 8,16,32.
    #[arg(long)]
    pub quick: bool,
    /// Backend: ndarray, wgpu or cuda (as built).
    #[arg(long, value_name = "NAME", default_value = "ndarray", value_parser = train_backend)]
    pub backend: String,
    /// Folder of the outputs; files there are replaced only once a run has succeeded.
    #[arg(long, value_name = "DIR", default_value = "results/vit_bench")]
    pub out: PathBuf,
    /// Training seeds 1..=N (one model of each kind per seed) [default: 3; --quick: 1].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub seeds: Option<usize>,
    /// Worker threads [default: the cores, at most 4].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub workers: Option<usize>,
    /// Side of the training grid, patches [default: 8].
    #[arg(long, value_name = "N", value_parser = side, allow_negative_numbers = true)]
    pub train_grid: Option<usize>,
    /// Scored grid sides, ascending [default: 8,12,16,24,32; --quick: 8,16,32].
    #[arg(long, value_name = "N,N,..", value_parser = sides, allow_negative_numbers = true)]
    pub grids: Option<Sides>,
    /// Colours of the patches [default: 4].
    #[arg(long, value_name = "N", value_parser = at_least_2, allow_negative_numbers = true)]
    pub colours: Option<usize>,
    /// Probability that a patch repeats its neighbour's colour along the stroke [default: 0.9].
    #[arg(long, value_name = "X", value_parser = probability, allow_negative_numbers = true)]
    pub keep: Option<f64>,
    /// Training steps per model [default: 800; --quick: 600].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub steps: Option<usize>,
    /// Images per training step [default: 32].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Peak AdamW learning rate [default: 0.005].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Warm-up steps [default: 40].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(usize), allow_negative_numbers = true)]
    pub warmup: Option<usize>,
    /// AdamW weight decay [default: 0.05].
    #[arg(long, value_name = "X", value_parser = non_negative, allow_negative_numbers = true)]
    pub weight_decay: Option<f32>,
    /// Scored images at the training grid, class-balanced; larger grids get as many patches
    /// in fewer images [default: 256; --quick: 128].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub eval_images: Option<usize>,
    /// The fewest images scored at any grid [default: 16; --quick: 8].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub min_eval_images: Option<usize>,
    /// Tokens per scoring batch [default: 2048].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub eval_batch_tokens: Option<usize>,
    /// Width of the residual stream [default: 128].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub d_model: Option<usize>,
    /// Blocks [default: 1].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub layers: Option<usize>,
    /// Attention heads; d_model / heads must be a multiple of 4, at least 8 [default: 8].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub heads: Option<usize>,
    /// MLP hidden width [default: 128].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    pub d_ff: Option<usize>,
    /// RoPE base of both axes [default: 100].
    #[arg(long, value_name = "X", value_parser = above_1, allow_negative_numbers = true)]
    pub theta: Option<f64>,
    /// Standard deviation of the token embeddings at initialisation [default: 1].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub embed_std: Option<f64>,
    /// Base of the sin-cos table the learned embeddings start from [default: 10].
    #[arg(long, value_name = "X", value_parser = above_1, allow_negative_numbers = true)]
    pub ape_init_base: Option<f64>,
    /// RMS of that table, times --embed-std [default: 1].
    #[arg(long, value_name = "X", value_parser = positive, allow_negative_numbers = true)]
    pub ape_init_scale: Option<f64>,
}

/// A list of grid sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sides(pub Vec<usize>);

/// What a parsed command line asks for.
#[derive(Debug, Clone)]
pub struct Args {
    /// Backend name.
    pub backend: String,
    /// Output folder.
    pub out: PathBuf,
    /// The run.
    pub config: VitBenchConfig,
}

/// Parses the command line (`args` starts with the program name).
pub fn parse_args<I, T>(args: I) -> Result<Args, CliExit>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli: Cli = crate::cli::parse(args)?;
    let mut c = if cli.quick {
        VitBenchConfig::quick()
    } else {
        VitBenchConfig::standard()
    };
    if let Some(n) = cli.seeds {
        c.seeds = (1..=n as u64).collect();
    }
    let set = |target: &mut usize, value: Option<usize>| {
        if let Some(v) = value {
            *target = v;
        }
    };
    set(&mut c.workers, cli.workers);
    set(&mut c.train_grid, cli.train_grid);
    set(&mut c.colours, cli.colours);
    set(&mut c.steps, cli.steps);
    set(&mut c.batch_size, cli.batch_size);
    set(&mut c.warmup_steps, cli.warmup);
    set(&mut c.eval_images, cli.eval_images);
    set(&mut c.min_eval_images, cli.min_eval_images);
    set(&mut c.eval_batch_tokens, cli.eval_batch_tokens);
    set(&mut c.d_model, cli.d_model);
    set(&mut c.n_layers, cli.layers);
    set(&mut c.n_heads, cli.heads);
    set(&mut c.d_ff, cli.d_ff);
    if let Some(Sides(grids)) = cli.grids {
        c.grids = grids;
    }
    c.learning_rate = cli.lr.unwrap_or(c.learning_rate);
    c.weight_decay = cli.weight_decay.unwrap_or(c.weight_decay);
    c.theta = cli.theta.unwrap_or(c.theta);
    c.keep = cli.keep.unwrap_or(c.keep);
    c.embed_std = cli.embed_std.unwrap_or(c.embed_std);
    c.ape_init_base = cli.ape_init_base.unwrap_or(c.ape_init_base);
    c.ape_init_scale = cli.ape_init_scale.unwrap_or(c.ape_init_scale);
    c.validate().map_err(CliExit::Error)?;
    Ok(Args {
        backend: cli.backend,
        out: cli.out,
        config: c,
    })
}

fn number<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim().parse().map_err(|_| "not a number".to_string())
}

fn at_least_2(s: &str) -> Result<usize, String> {
    match number(s)? {
        n if n < 2 => Err("must be at least 2".into()),
        n => Ok(n),
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let x: f64 = number(s)?;
    if (0.0..1.0).contains(&x) {
        Ok(x)
    } else {
        Err("must be a number in [0, 1)".into())
    }
}

fn side(s: &str) -> Result<usize, String> {
    let n = number(s)?;
    if (super::task::MIN_SIDE..=MAX_SIDE).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "grid side {n} is outside {}..={MAX_SIDE}",
            super::task::MIN_SIDE
        ))
    }
}

fn sides(s: &str) -> Result<Sides, String> {
    let v = s.split(',').map(side).collect::<Result<Vec<_>, _>>()?;
    if v.windows(2).all(|w| w[0] < w[1]) {
        Ok(Sides(v))
    } else {
        Err("not strictly ascending".into())
    }
}

fn non_negative(s: &str) -> Result<f32, String> {
    let x: f32 = number(s)?;
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err("must be a finite number >= 0".into())
    }
}

fn above_1(s: &str) -> Result<f64, String> {
    let x: f64 = number(s)?;
    if x.is_finite() && x > 1.0 {
        Ok(x)
    } else {
        Err("must be a finite number > 1".into())
    }
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
        let Args { out, config, .. } = self.0;
        eprintln!(
            "vit_bench on {} with {} workers: trained on {}×{} grids from seeds {:?}, scored on \
             grids {:?}",
            B::name(&device),
            config.workers,
            config.train_grid,
            config.train_grid,
            config.seeds,
            config.grids
        );
        let results = run::<B>(&config, true, &device)?;
        println!("{}", markdown(&results));
        for (path, what) in write_outputs(&results, &out)? {
            println!("wrote {}: {what}", path.display());
        }
        println!(
            "wall time: {:.1} s ({:.1} s training) on {} workers",
            results.seconds, results.train_seconds, config.workers
        );
        Ok(())
    }
}
