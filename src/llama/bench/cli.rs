//! The command line of `context_bench` (clap) and its run on the chosen backend. The run is
//! generic over the backend: it is instantiated here, once, so the example binary only parses
//! and calls (its build stays short).

use std::path::PathBuf;

use burn_rotary::RopeBackend;
use clap::Parser;

use super::documents::Documents;
use super::{report, runs, Bench, BenchConfig};
use crate::backend_choice::{run_on, BackendTask};
use crate::cli::{self, at_least_1};
use crate::llama::golden::sha256_file;
use crate::llama::{default_gguf_path, ChatTokenizer, Gguf, Llama, QkLayout};
use crate::scaling_methods::Method;

/// Scores RoPE scalings on a pretrained Llama-family GGUF past its trained context.
#[derive(Parser, Debug)]
#[command(name = "context_bench")]
pub struct Cli {
    /// The model [default: the file scripts/fetch-smollm2.sh fetches].
    #[arg(long, value_name = "PATH")]
    gguf: Option<PathBuf>,
    /// Backend.
    #[arg(long, value_name = "NAME", default_value = "ndarray", value_parser = cli::backend)]
    backend: String,
    /// The 2-core CPU subset: 2048 and 9216 tokens, one document, passkey at 2048.
    #[arg(long)]
    quick: bool,
    /// Perplexity context lengths, comma-separated [default: 4096,8192,16384,32768].
    #[arg(long, value_name = "N,..", value_delimiter = ',', value_parser = at_least_1)]
    lengths: Option<Vec<usize>>,
    /// Documents [default: 3; --quick: 1].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    documents: Option<usize>,
    /// Passkey prompt lengths, comma-separated; `0` for none [default: the perplexity lengths].
    #[arg(long, value_name = "N,..", value_delimiter = ',', value_parser = clap::value_parser!(usize))]
    passkey_lengths: Option<Vec<usize>>,
    /// Passkey depths in 0..=1, comma-separated [default: 0,0.25,0.5,0.75,1].
    #[arg(long, value_name = "X,..", value_delimiter = ',', value_parser = depth)]
    depths: Option<Vec<f64>>,
    /// Passkeys per length and depth [default: 1].
    #[arg(long, value_name = "N", value_parser = at_least_1, allow_negative_numbers = true)]
    trials: Option<usize>,
    /// Scalings, comma-separated (none, linear, ntk, dynamic_ntk, yarn, llama3).
    #[arg(long, value_name = "NAME,..", value_delimiter = ',', value_parser = method)]
    methods: Option<Vec<Method>>,
    /// Documents cut from this text file instead of the registry's Rust sources.
    #[arg(long, value_name = "FILE")]
    text: Option<PathBuf>,
    /// Output folder (its `cells/` caches every finished cell).
    #[arg(long, value_name = "DIR", default_value = "results/context_bench")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

fn depth(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if (0.0..=1.0).contains(&d) => Ok(d),
        _ => Err(format!("`{s}` is not a depth in 0..=1")),
    }
}

fn method(s: &str) -> Result<Method, String> {
    let m: Method = s.trim().parse()?;
    match runs(m) {
        true => Ok(m),
        false => Err(format!(
            "`{s}` is not run by this benchmark (LongRoPE needs searched factors)"
        )),
    }
}

impl Cli {
    fn config(&self) -> BenchConfig {
        let mut c = if self.quick {
            BenchConfig::quick()
        } else {
            BenchConfig::full()
        };
        if let Some(lengths) = &self.lengths {
            c.lengths = lengths.clone();
            c.passkey_lengths = lengths.clone();
        }
        if let Some(p) = &self.passkey_lengths {
            c.passkey_lengths = p.iter().copied().filter(|&l| l > 0).collect();
        }
        c.documents = self.documents.unwrap_or(c.documents);
        c.depths = self.depths.clone().unwrap_or(c.depths);
        c.trials = self.trials.unwrap_or(c.trials);
        c.methods = self.methods.clone().unwrap_or(c.methods);
        c
    }
}

struct Run {
    cli: Cli,
    gguf: PathBuf,
}

impl BackendTask for Run {
    type Output = Result<(), String>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Result<(), String> {
        let config = self.cli.config();
        let out = &self.cli.out;
        if out.exists() && !out.is_dir() {
            return Err(format!("--out {}: not a folder", out.display()));
        }
        let file = Gguf::open(&self.gguf).map_err(|e| format!("{}: {e}", self.gguf.display()))?;
        let model_config = file.config().map_err(|e| e.to_string())?;
        let tokenizer = ChatTokenizer::from_gguf(&file).map_err(|e| e.to_string())?;
        let longest = config.longest();
        let docs = match &self.cli.text {
            Some(path) => Documents::from_file(path, &tokenizer, config.documents, longest)?,
            None => Documents::from_dependencies(
                "Cargo.lock".as_ref(),
                &tokenizer,
                config.documents,
                longest,
            )?,
        };
        let model = Llama::<B>::from_gguf(&file, QkLayout::Half, None, &device)
            .map_err(|e| e.to_string())?;
        let sha = sha256_file(&self.gguf)?;
        let cells = out
            .join("cells")
            .join(format!("{}-{:016x}", &sha[..16], docs.fingerprint));
        println!(
            "{} (sha256 {}…) on {}: trained context {}, θ {}; {} document(s): {}",
            self.gguf.display(),
            &sha[..16],
            B::name(&device),
            model_config.context_length,
            model_config.rope.theta,
            config.documents,
            docs.names[..config.documents].join(", ")
        );
        let bench = Bench {
            model,
            tokenizer: &tokenizer,
            base_rope: model_config.rope.clone(),
            train_len: model_config.context_length,
            docs: &docs,
            cells,
            progress: !self.cli.no_progress,
            device,
        };
        let results = bench.run(&config)?;
        std::fs::create_dir_all(out)
            .map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        report::write(&results, out)?;
        println!("{}", report::markdown(&results));
        println!(
            "computed in {:.0} s (cells already cached are read, not timed); written to {}",
            results.seconds,
            out.display()
        );
        Ok(())
    }
}

/// Runs the benchmark the command line asks for: reads the model and the documents, scores
/// every cell (cached ones are read), writes the outputs and prints the tables.
pub fn run_cli(cli: Cli) -> Result<(), String> {
    let gguf = cli.gguf.clone().unwrap_or_else(default_gguf_path);
    let backend = cli.backend.clone();
    run_on(&backend, Run { cli, gguf })?
}
