//! The command line of `generate` (clap): generation from a model `train` saved, token by
//! token with a KV cache, or a chat with a pretrained Llama-family GGUF (`--gguf`).

use std::path::PathBuf;

use burn_rotary::{RopeBackend, RopeScaling};
use clap::Parser;

use super::vocab::{sample_prompts, Prompt};
use super::{generate, Decoding, GenerateConfig, Generation, Vocab};
use crate::backend_choice::{run_on, BackendTask};
use crate::cli;
use crate::llama::chat::chat;
use crate::llama::{ChatTokenizer, Gguf, GgufError, Llama, QkLayout};
use crate::model::{attention_scores, MAX_ATTENTION_SCORES};
use crate::train::checkpoint::Checkpoint;

/// Generates from a model saved by the `train` example, token by token with a KV cache, and
/// prints the continuations and the tokens/s.
#[derive(Parser, Debug)]
#[command(name = "generate")]
pub struct Cli {
    /// Folder of the run that `train` wrote (model.json, train.json, model.mpk).
    #[arg(long, value_name = "DIR", default_value = "results/train")]
    checkpoint: PathBuf,
    /// Backend.
    #[arg(long, value_name = "NAME", default_value = "ndarray", value_parser = cli::backend)]
    backend: String,
    /// A prompt; repeat for a batch. Text models: its characters; the retrieval task: token
    /// names or ids separated by spaces (`? k3`, `k3:v5`, `f12`, `7`).
    #[arg(long, value_name = "TEXT")]
    prompt: Vec<String>,
    /// Tokens to generate per prompt.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = cli::at_least_1, allow_negative_numbers = true)]
    tokens: usize,
    /// Prompts drawn from the training task when no --prompt is given.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = cli::at_least_1, allow_negative_numbers = true)]
    batch: usize,
    /// Length of the longest drawn prompt (the others are shorter, down to half) [default:
    /// the training sequence length].
    #[arg(long, value_name = "N", value_parser = cli::at_least_1, allow_negative_numbers = true)]
    prompt_len: Option<usize>,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, value_name = "X", default_value_t = 0.0, value_parser = cli::non_negative, allow_negative_numbers = true)]
    temperature: f64,
    /// Seed of the drawn prompts and of the sampler.
    #[arg(long, value_name = "N", default_value_t = 0, value_parser = cli::count, allow_negative_numbers = true)]
    seed: usize,
    /// Re-run the whole sequences at every step instead of using the KV cache.
    #[arg(long, conflicts_with = "compare")]
    no_cache: bool,
    /// Also time decoding without the cache, and check that it generates the same tokens.
    #[arg(long)]
    compare: bool,
    /// Untimed runs before the timed one (they compile the GPU kernels).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = cli::count, allow_negative_numbers = true)]
    warmup: usize,
    /// Evaluate with dynamic NTK scaling of this factor, with the training length as
    /// max_position_embeddings (a length-dependent scaling: the cache recomputes past it).
    #[arg(long, value_name = "FACTOR", value_parser = cli::positive, allow_negative_numbers = true)]
    dynamic_ntk: Option<f64>,
    /// Chat with a pretrained Llama-family GGUF instead of a trained checkpoint (greedy, KV
    /// cache); default prompt "What is the capital of France?".
    #[arg(long, value_name = "PATH", conflicts_with_all = ["checkpoint", "batch", "prompt_len", "temperature", "no_cache", "compare", "dynamic_ntk"])]
    gguf: Option<PathBuf>,
}

/// The longest prompt plus new tokens a run accepts (the positions a row reaches).
const MAX_LENGTH: usize = 1 << 16;

struct Run {
    cli: Cli,
    checkpoint: Checkpoint,
}

impl BackendTask for Run {
    type Output = Result<(), String>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Result<(), String> {
        let cli = &self.cli;
        // The saved config, state and text, checked against each other (fingerprint, vocab).
        let (mut config, state, task) = self.checkpoint.load_run()?;
        let vocab = Vocab::of(&task)?;
        if let Some(factor) = cli.dynamic_ntk {
            config.rope.scaling = RopeScaling::DynamicNtk { factor };
            config.rope.max_position_embeddings = state.train.seq_len;
            config
                .validate()
                .map_err(|e| format!("--dynamic-ntk {factor}: {e}"))?;
        }
        let model = self.checkpoint.load_model::<B>(&config, &device)?;

        let prompts: Vec<Prompt> = if cli.prompt.is_empty() {
            let longest = cli.prompt_len.unwrap_or(state.train.seq_len);
            sample_prompts(&task, cli.batch, longest, cli.seed as u64)
                .map_err(|e| format!("--prompt-len {longest}: {e}"))?
        } else {
            cli.prompt
                .iter()
                .map(|p| {
                    let ids = vocab
                        .encode(p)
                        .map_err(|e| format!("--prompt {p:?}: {e}"))?;
                    Ok(Prompt { ids, answer: None })
                })
                .collect::<Result<_, String>>()?
        };
        let ids: Vec<Vec<i64>> = prompts.iter().map(|p| p.ids.clone()).collect();
        let longest = ids.iter().map(Vec::len).max().unwrap_or(0);
        if longest + cli.tokens > MAX_LENGTH.min(config.rope.max_positions) {
            return Err(format!(
                "--tokens {}: a prompt of {longest} tokens plus {} new ones is past {} positions",
                cli.tokens,
                cli.tokens,
                MAX_LENGTH.min(config.rope.max_positions)
            ));
        }
        // Bounded before allocating: the whole sequences' scores (a prefill, or a re-run).
        let scores = attention_scores(ids.len(), config.n_heads, longest + cli.tokens);
        if scores > MAX_ATTENTION_SCORES as f64 {
            return Err(format!(
                "{} prompts of up to {longest} tokens plus --tokens {}: {scores:.1e} attention \
                 scores per layer, more than this example holds ({MAX_ATTENTION_SCORES})",
                ids.len(),
                cli.tokens
            ));
        }
        let decoding = if cli.no_cache {
            Decoding::Recompute
        } else {
            Decoding::Cached
        };
        let run = |decoding, timed: bool| -> Result<Generation, String> {
            let config = GenerateConfig {
                new_tokens: cli.tokens,
                temperature: cli.temperature,
                seed: cli.seed as u64,
                decoding,
            };
            for _ in 0..if timed { cli.warmup } else { 0 } {
                generate(&model, &ids, &config, &device)?;
            }
            generate(&model, &ids, &config, &device)
        };
        let generation = run(decoding, true)?;

        println!(
            "{} ({} steps, {}) on {}: {} prompts of {} tokens, {} new tokens each, {}",
            self.checkpoint.dir().display(),
            state.steps_done,
            task.describe(),
            B::name(&device),
            ids.len(),
            describe_lengths(&ids),
            cli.tokens,
            match cli.temperature {
                0.0 => "greedy".to_string(),
                t => format!("temperature {t}"),
            }
        );
        let mut correct = 0;
        for (prompt, new) in prompts.iter().zip(&generation.tokens) {
            let answer = prompt.answer.map(|a| {
                let ok = new.first() == Some(&a);
                correct += usize::from(ok);
                format!(
                    "   [expected {}: {}]",
                    vocab.decode(&[a]),
                    if ok { "correct" } else { "wrong" }
                )
            });
            println!(
                "{:?} -> {:?}{}",
                vocab.decode(&prompt.ids),
                vocab.decode(new),
                answer.unwrap_or_default()
            );
        }
        if prompts.iter().any(|p| p.answer.is_some()) {
            println!("retrieval answers correct: {correct}/{}", prompts.len());
        }
        print_speed(&generation, decoding);
        if cli.compare {
            let baseline = run(Decoding::Recompute, false)?;
            print_speed(&baseline, Decoding::Recompute);
            if baseline.tokens != generation.tokens {
                return Err("decoding without the cache generated other tokens".into());
            }
            println!(
                "same tokens with and without the cache; the cache decodes {:.1}x faster",
                generation.decode_tokens_per_second() / baseline.decode_tokens_per_second()
            );
        }
        Ok(())
    }
}

fn describe_lengths(ids: &[Vec<i64>]) -> String {
    let lengths: Vec<String> = ids.iter().map(|p| p.len().to_string()).collect();
    lengths.join("/")
}

fn print_speed(g: &Generation, decoding: Decoding) {
    let how = match decoding {
        Decoding::Cached => "KV cache",
        Decoding::Recompute => "no cache (full re-run per step)",
    };
    println!(
        "{how}: prefill {} prompt tokens + first token in {:.1} ms; decode {} tokens in {:.3} s: \
         {:.1} tokens/s ({:.1} tokens/s overall)",
        g.prompt_tokens,
        g.prefill_seconds * 1e3,
        g.new_tokens() - g.tokens.len(),
        g.decode_seconds,
        g.decode_tokens_per_second(),
        g.tokens_per_second()
    );
}

/// The backend to decode on: wgpu and cuda without burn-fusion. With Burn 0.21's fusion, the
/// cached steps of a batch (one new column per row after a prefill) compute wrong logits on
/// wgpu (0.2-0.7 off a re-run, rows of equal length too; exact without fusion, with RoPE's
/// fused kernel or its tensor-op path alike: tests/generate/mod.rs), as in tracel-ai/burn#5257;
/// the unfused backends run the same kernels, RoPE's included, op by op.
fn unfused(backend: &str) -> &str {
    match backend {
        "wgpu" => "wgpu-kernel",
        "cuda" => "cuda-kernel",
        other => other,
    }
}

/// A chat with a GGUF model (`--gguf`).
struct ChatRun {
    gguf: PathBuf,
    prompts: Vec<String>,
    tokens: usize,
    warmup: usize,
}

impl BackendTask for ChatRun {
    type Output = Result<(), String>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Result<(), String> {
        let error = |e: GgufError| format!("{}: {e}", self.gguf.display());
        let gguf = Gguf::open(&self.gguf).map_err(error)?;
        let tokenizer = ChatTokenizer::from_gguf(&gguf).map_err(error)?;
        let model = Llama::<B>::from_gguf(&gguf, QkLayout::Half, None, &device).map_err(error)?;
        let config = gguf.config().map_err(error)?;
        println!(
            "{} on {}: {} layers, {} heads / {} KV heads, RoPE θ {} ({:?}), trained context {}",
            self.gguf.display(),
            B::name(&device),
            config.layers,
            config.heads,
            config.kv_heads,
            config.rope.theta,
            config.rope.scaling,
            config.context_length
        );
        for prompt in &self.prompts {
            for _ in 0..self.warmup {
                chat(&model, &tokenizer, prompt, self.tokens, &device).map_err(error)?;
            }
            let reply = chat(&model, &tokenizer, prompt, self.tokens, &device).map_err(error)?;
            println!("user: {prompt}\nassistant: {}", reply.text);
            println!(
                "KV cache: prefill {} prompt tokens + first token in {:.1} ms; decode {} tokens \
                 in {:.3} s: {:.1} tokens/s",
                reply.prompt_ids.len(),
                reply.prefill_seconds * 1e3,
                reply.ids.len().saturating_sub(1),
                reply.decode_seconds,
                reply.decode_tokens_per_second()
            );
        }
        Ok(())
    }
}

/// Runs what the command line asks for: a chat with a GGUF model (`--gguf`), or generation
/// from a trained checkpoint. The work is generic over the backend: it is instantiated here,
/// once, so the example binary only parses and calls (its build stays short).
pub fn run_cli(cli: Cli) -> Result<(), String> {
    let backend = unfused(&cli.backend).to_string();
    match cli.gguf.clone() {
        Some(gguf) => {
            let prompts = match cli.prompt.is_empty() {
                true => vec!["What is the capital of France?".to_string()],
                false => cli.prompt.clone(),
            };
            let run = ChatRun {
                gguf,
                prompts,
                tokens: cli.tokens,
                warmup: cli.warmup,
            };
            run_on(&backend, run)?
        }
        None => {
            let run = Run {
                checkpoint: Checkpoint::new(&cli.checkpoint),
                cli,
            };
            run_on(&backend, run)?
        }
    }
}
