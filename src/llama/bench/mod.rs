//! The long-context benchmark on a real model: how far past its trained context each scaling
//! lets a pretrained model read, measured as the literature measures it (Chen et al. 2023; Peng
//! et al. 2023; Mohtashami & Jaggi 2023):
//!
//! - **perplexity by context length**: each document's first `L` tokens in one forward, the mean
//!   next-token loss over the window, over its first [`SHORT_TOKENS`] tokens (where plain RoPE is
//!   in range: a scaling's short-range cost) and over its last quarter (the tokens that have the
//!   most context before them);
//! - **passkey retrieval**: a 5-digit key at depths 0–100 % of a filler prompt of `L` tokens,
//!   asked through the chat template, answered greedily.
//!
//! Each scaling's factor is set from the length it runs at, as the papers set it from their
//! target: `s = L / L_train` ([`Method::scaling`]); at `L ≤ L_train` every method is plain RoPE
//! (`s = 1`) and is scored once. Every cell's result is cached in `--out` as it finishes (written
//! whole or not at all), so an interrupted run resumes where it stopped.

pub mod cli;
pub mod documents;
pub mod passkey;
pub mod report;

use std::path::{Path, PathBuf};

use burn_rotary::{RopeBackend, RopeConfig};
use serde::{Deserialize, Serialize};

use crate::progress::run_bar;
use crate::scaling_bench::write_atomic;
use crate::scaling_methods::Method;

use super::chat::greedy;
use super::{ChatTokenizer, Llama};
use documents::Documents;
use passkey::Passkey;

/// New tokens a passkey answer may take: SmolLM2 writes digits one token each, and answers
/// "The pass key is 57868." (11 tokens), so 8 would cut every key short.
pub const ANSWER_TOKENS: usize = 24;

/// The tokens at the start of each window whose loss is reported apart (the short range).
pub const SHORT_TOKENS: usize = 2048;

/// What a run measures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Context lengths of the perplexity windows.
    pub lengths: Vec<usize>,
    /// Documents (one window per document and length).
    pub documents: usize,
    /// Passkey prompt lengths (empty: no passkey test).
    pub passkey_lengths: Vec<usize>,
    /// Key depths, in `0..=1`.
    pub depths: Vec<f64>,
    /// Keys per (length, depth).
    pub trials: usize,
    /// The scalings compared.
    pub methods: Vec<Method>,
}

impl BenchConfig {
    /// The full run: 4k, 8k, 16k, 32k on 3 documents; passkey at the same lengths, 5 depths.
    pub fn full() -> Self {
        Self {
            lengths: vec![4096, 8192, 16384, 32768],
            documents: 3,
            passkey_lengths: vec![4096, 8192, 16384, 32768],
            depths: vec![0.0, 0.25, 0.5, 0.75, 1.0],
            trials: 1,
            methods: bench_methods(),
        }
    }

    /// The 2-core CPU run (about 17 minutes on NdArray): 2048 and 9216 tokens (1.125× the
    /// trained context), one document; passkey at 2048 (in range: checks the task, not the
    /// scalings). A 4096-token forward takes ~45 s there, a 32k one ~30 min: the full run is for
    /// a GPU.
    pub fn quick() -> Self {
        Self {
            lengths: vec![2048, 9216],
            documents: 1,
            passkey_lengths: vec![2048],
            depths: vec![0.0, 0.5, 1.0],
            trials: 1,
            methods: bench_methods(),
        }
    }

    /// The longest window or prompt.
    pub fn longest(&self) -> usize {
        self.lengths
            .iter()
            .chain(&self.passkey_lengths)
            .copied()
            .max()
            .unwrap_or(0)
    }
}

/// Whether the benchmark runs `method`: every scaling but LongRoPE, whose factors come from a
/// search this benchmark does not run.
pub fn runs(method: Method) -> bool {
    method != Method::LongRope
}

/// The scalings the benchmark compares, in [`Method::ALL`]'s order.
pub fn bench_methods() -> Vec<Method> {
    Method::ALL.into_iter().filter(|&m| runs(m)).collect()
}

/// The loss of one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WindowLoss {
    /// Mean next-token loss (nats) over the window.
    pub loss: f64,
    /// Over its first [`SHORT_TOKENS`] tokens.
    pub short: f64,
    /// Over its last quarter.
    pub last: f64,
}

/// One passkey answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasskeyAnswer {
    /// The key.
    pub key: String,
    /// The greedy answer.
    pub answer: String,
    /// The prompt's tokens.
    pub tokens: usize,
    /// Whether the answer holds the key.
    pub correct: bool,
}

/// Everything a run measured, in the order of its loops.
#[derive(Debug, Clone, Default)]
pub struct BenchResults {
    /// `(method, length, document, loss)`.
    pub windows: Vec<(Method, usize, usize, WindowLoss)>,
    /// `(method, length, depth, trial, answer)`.
    pub passkeys: Vec<(Method, usize, f64, usize, PasskeyAnswer)>,
    /// The trained context.
    pub train_len: usize,
    /// Wall seconds of the cells computed in this run (not read from the cache).
    pub seconds: f64,
}

/// The method whose table scores `method` at `length`: plain RoPE at `s = 1`.
pub fn effective(method: Method, length: usize, train_len: usize) -> Method {
    if length <= train_len {
        Method::None
    } else {
        method
    }
}

/// Runs the benchmark: every cell not yet in `out/cells` is computed on `B` and cached there.
pub struct Bench<'a, B: RopeBackend> {
    pub model: Llama<B>,
    pub tokenizer: &'a ChatTokenizer,
    pub base_rope: RopeConfig,
    pub train_len: usize,
    pub docs: &'a Documents,
    pub cells: PathBuf,
    pub progress: bool,
    pub device: B::Device,
}

impl<B: RopeBackend> Bench<'_, B> {
    fn model_for(&self, method: Method, length: usize) -> Llama<B> {
        let config = method.config(&self.base_rope, self.train_len, length, &[]);
        self.model.clone().with_rope(&config, &self.device)
    }

    /// `methods` grouped by the table they run at `length`: `(the first, all of them)`. At
    /// `s = 1` every method is plain RoPE. A window of exactly `length` tokens also merges
    /// methods whose frequencies are equal there (dynamic NTK over a whole window is static NTK
    /// at `s = length / L_train`); a passkey prompt is only about `length` long, so it does not.
    fn groups(
        &self,
        methods: &[Method],
        length: usize,
        exact_length: bool,
    ) -> Vec<(Method, Vec<Method>)> {
        let table = |m: Method| {
            let f = m
                .config(&self.base_rope, self.train_len, length, &[])
                .frequencies(Some(length));
            (f.inv_freq, f.attention_factor)
        };
        let mut groups: Vec<(Method, Vec<Method>)> = Vec::new();
        for &m in methods {
            let same = |g: &(Method, Vec<Method>)| {
                effective(m, length, self.train_len) == effective(g.0, length, self.train_len)
                    || (exact_length && table(m) == table(g.0))
            };
            match groups.iter_mut().find(|g| same(g)) {
                Some(group) => group.1.push(m),
                None => groups.push((m, vec![m])),
            }
        }
        groups
    }

    /// Runs `config`'s cells.
    pub fn run(&self, config: &BenchConfig) -> Result<BenchResults, String> {
        std::fs::create_dir_all(&self.cells)
            .map_err(|e| format!("cannot create {}: {e}", self.cells.display()))?;
        // The methods scored at each length, grouped where they give the same table.
        let windows = |l: usize| self.groups(&config.methods, l, true);
        let passkeys = |l: usize| self.groups(&config.methods, l, false);
        // Work in window-tokens, for the bar's ETA (attention makes long windows dearer).
        let cost = |l: usize| (l as u64) * (1 + l as u64 / 4096);
        let total: u64 = config
            .lengths
            .iter()
            .map(|&l| windows(l).len() as u64 * config.documents as u64 * cost(l))
            .sum::<u64>()
            + config
                .passkey_lengths
                .iter()
                .map(|&l| {
                    passkeys(l).len() as u64
                        * (config.depths.len() * config.trials) as u64
                        * cost(l)
                })
                .sum::<u64>();
        let bar = run_bar(self.progress);
        bar.set_length(total.max(1));
        let start = std::time::Instant::now();
        let mut results = BenchResults {
            train_len: self.train_len,
            ..Default::default()
        };
        for &length in &config.lengths {
            for (method, members) in windows(length) {
                let model = self.model_for(method, length);
                for (d, tokens) in self.docs.tokens.iter().enumerate().take(config.documents) {
                    bar.set_message(format!("perplexity {method} {length} doc {d}"));
                    let key = format!("window-{method}-{length}-doc{d}.json");
                    let window = cached(&self.cells.join(key), || {
                        window_loss(&model.token_nll(&tokens[..length], 0, &self.device))
                    })?;
                    bar.inc(cost(length));
                    for &m in &members {
                        results.windows.push((m, length, d, window));
                    }
                }
            }
        }
        for &length in &config.passkey_lengths {
            for (method, members) in passkeys(length) {
                let model = self.model_for(method, length);
                for &depth in &config.depths {
                    for trial in 0..config.trials {
                        bar.set_message(format!("passkey {method} {length} depth {depth}"));
                        // The answer's length is in the key: answers cut at another length
                        // (8 tokens once scored every key as wrong) are not read back.
                        let key = format!(
                            "passkey-{method}-{length}-{depth}-{trial}-a{ANSWER_TOKENS}.json"
                        );
                        let answer = cached(&self.cells.join(key), || {
                            let seed = (length as u64) << 20
                                ^ ((depth * 1000.0) as u64) << 8
                                ^ trial as u64;
                            let prompt = Passkey::build(self.tokenizer, length, depth, seed)?;
                            let (ids, _, _) = greedy(
                                &model,
                                &prompt.ids,
                                ANSWER_TOKENS,
                                self.tokenizer.eos(),
                                &self.device,
                            );
                            let answer = self.tokenizer.decode(&ids).map_err(|e| e.to_string())?;
                            Ok(PasskeyAnswer {
                                correct: prompt.correct(&answer),
                                key: prompt.key,
                                answer,
                                tokens: prompt.ids.len(),
                            })
                        })?;
                        bar.inc(cost(length));
                        for &m in &members {
                            results
                                .passkeys
                                .push((m, length, depth, trial, answer.clone()));
                        }
                    }
                }
            }
        }
        bar.finish_and_clear();
        results.seconds = start.elapsed().as_secs_f64();
        Ok(results)
    }
}

/// The result cached at `path`, or `compute`d and cached there (written whole or not at all).
fn cached<T: Serialize + for<'de> Deserialize<'de>>(
    path: &Path,
    compute: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(value) = serde_json::from_str(&text) {
            return Ok(value);
        }
    }
    let value = compute()?;
    let text = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    write_atomic(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(value)
}

/// The window's mean loss, its first [`SHORT_TOKENS`] and its last quarter; NaN stays NaN.
fn window_loss(nll: &[f64]) -> Result<WindowLoss, String> {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let n = nll.len();
    Ok(WindowLoss {
        loss: mean(nll),
        short: mean(&nll[..SHORT_TOKENS.min(n)]),
        last: mean(&nll[n - n / 4..]),
    })
}
