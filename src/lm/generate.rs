//! Decoding token by token: [`Decoder`] runs a batch of prompts of different lengths through
//! a [`KvCache`] (left padding, per-row RoPE offsets; see [`super::kv_cache`]) or, for
//! comparison, re-runs every full sequence at each step; [`generate`] samples and times it.

use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::RopeBackend;

use super::kv_cache::KvCache;
use crate::data::SplitMix;
use crate::model::Transformer;

/// How each step computes its logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoding {
    /// One new column per step, attending to the cached keys and values.
    Cached,
    /// Every step re-runs the whole (padded) sequences from an empty cache: the slow baseline.
    Recompute,
}

/// The id written into pad columns (any valid id: pad columns are masked out).
pub const PAD_ID: i64 = 0;

/// Prompts laid out left-padded: `(ids [batch, width] row-major, pads, width)`.
pub fn left_pad(prompts: &[Vec<i64>]) -> (Vec<i64>, Vec<usize>, usize) {
    let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(prompts.len() * width);
    let mut pads = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let pad = width - prompt.len();
        ids.extend(std::iter::repeat_n(PAD_ID, pad));
        ids.extend_from_slice(prompt);
        pads.push(pad);
    }
    (ids, pads, width)
}

/// Checks that `prompts` can be decoded for `new_tokens` tokens by `model`: at least one
/// prompt, none empty, ids in the vocabulary, positions below the RoPE's `max_positions`.
pub fn check_prompts<B: RopeBackend>(
    model: &Transformer<B>,
    prompts: &[Vec<i64>],
    new_tokens: usize,
) -> Result<(), String> {
    let vocab = model.vocab_size();
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err("every prompt needs at least one token".into());
    }
    if let Some(&id) = prompts
        .iter()
        .flatten()
        .find(|&&id| id < 0 || id >= vocab as i64)
    {
        return Err(format!(
            "token id {id} is outside the vocabulary 0..{vocab}"
        ));
    }
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let max_positions = model.rope().map_or(usize::MAX, |r| r.max_positions);
    // The last token sampled is not fed back: positions reach longest + new_tokens - 2.
    if longest.saturating_add(new_tokens) > max_positions {
        return Err(format!(
            "a prompt of {longest} tokens plus {new_tokens} new tokens is past the model's \
             RoPE max_positions {max_positions}"
        ));
    }
    Ok(())
}

/// A batch of sequences being decoded.
pub struct Decoder<'a, B: RopeBackend> {
    model: &'a Transformer<B>,
    mode: Decoding,
    cache: KvCache<B>,
    /// Every column so far, `[batch][columns]` (for [`Decoding::Recompute`]).
    columns: Vec<Vec<i64>>,
    device: B::Device,
}

impl<'a, B: RopeBackend> Decoder<'a, B> {
    /// Runs the left-padded `prompts` (see [`check_prompts`]); returns the decoder and the
    /// logits of every column, `[batch, width, vocab]` (row `b`'s prompt is in its last
    /// `len_b` columns).
    pub fn prefill(
        model: &'a Transformer<B>,
        prompts: &[Vec<i64>],
        mode: Decoding,
        device: &B::Device,
    ) -> (Self, Tensor<B, 3>) {
        let (ids, pads, width) = left_pad(prompts);
        let columns = ids.chunks(width.max(1)).map(<[i64]>::to_vec).collect();
        let mut cache = KvCache::new(model, pads);
        let tokens = Tensor::from_data(TensorData::new(ids, [prompts.len(), width]), device);
        let logits = model.forward_cached(tokens, &mut cache);
        let decoder = Self {
            model,
            mode,
            cache,
            columns,
            device: device.clone(),
        };
        (decoder, logits)
    }

    /// Appends one token to each row and returns the next-token logits, `[batch, vocab]`.
    pub fn step(&mut self, next: &[i64]) -> Tensor<B, 2> {
        let batch = self.columns.len();
        for (row, &id) in self.columns.iter_mut().zip(next) {
            row.push(id);
        }
        let (tokens, last) = match self.mode {
            Decoding::Cached => (next.to_vec(), 0),
            Decoding::Recompute => {
                self.cache = KvCache::new(self.model, self.cache.pads().to_vec());
                let width = self.columns[0].len();
                (self.columns.concat(), width - 1)
            }
        };
        let width = tokens.len() / batch.max(1);
        let tokens: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(tokens, [batch, width]), &self.device);
        let logits = self.model.forward_cached(tokens, &mut self.cache);
        let [_, _, vocab] = logits.dims();
        logits.narrow(1, last, 1).reshape([batch, vocab])
    }

    /// The cache.
    pub fn cache(&self) -> &KvCache<B> {
        &self.cache
    }
}

/// How to generate.
#[derive(Debug, Clone, Copy)]
pub struct GenerateConfig {
    /// Tokens to generate per prompt.
    pub new_tokens: usize,
    /// Sampling temperature; 0 is greedy (argmax).
    pub temperature: f64,
    /// Seed of the sampler.
    pub seed: u64,
    /// Cached or recomputed steps.
    pub decoding: Decoding,
}

/// What [`generate`] produced, and how long it took.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The generated tokens of each prompt.
    pub tokens: Vec<Vec<i64>>,
    /// Prompt tokens (pads excluded).
    pub prompt_tokens: usize,
    /// Seconds of the prefill (the prompts, and sampling the first new token).
    pub prefill_seconds: f64,
    /// Seconds of the decoding steps (every new token after the first).
    pub decode_seconds: f64,
}

impl Generation {
    /// New tokens over all rows.
    pub fn new_tokens(&self) -> usize {
        self.tokens.iter().map(Vec::len).sum()
    }

    /// Tokens per second of the decoding steps (each generates one token per row).
    pub fn decode_tokens_per_second(&self) -> f64 {
        let steps: usize = self.tokens.iter().map(|t| t.len().saturating_sub(1)).sum();
        steps as f64 / self.decode_seconds.max(1e-9)
    }

    /// New tokens per second, prefill included.
    pub fn tokens_per_second(&self) -> f64 {
        self.new_tokens() as f64 / (self.prefill_seconds + self.decode_seconds).max(1e-9)
    }
}

/// Generates `config.new_tokens` tokens after each prompt (see [`check_prompts`]).
pub fn generate<B: RopeBackend>(
    model: &Transformer<B>,
    prompts: &[Vec<i64>],
    config: &GenerateConfig,
    device: &B::Device,
) -> Result<Generation, String> {
    check_prompts(model, prompts, config.new_tokens)?;
    let mut rng = SplitMix::new(config.seed);
    let mut tokens = vec![Vec::with_capacity(config.new_tokens); prompts.len()];
    let start = Instant::now();
    let (mut decoder, logits) = Decoder::prefill(model, prompts, config.decoding, device);
    let [batch, width, vocab] = logits.dims();
    let mut logits = logits.narrow(1, width - 1, 1).reshape([batch, vocab]);
    let mut prefill_seconds = None;
    for i in 0..config.new_tokens {
        if i > 0 {
            logits = decoder.step(&tokens.iter().map(|t| t[i - 1]).collect::<Vec<_>>());
        }
        for (row, id) in tokens
            .iter_mut()
            .zip(sample(logits.clone(), config.temperature, &mut rng))
        {
            row.push(id);
        }
        prefill_seconds.get_or_insert(start.elapsed().as_secs_f64());
    }
    let prefill_seconds = prefill_seconds.unwrap_or_default();
    Ok(Generation {
        tokens,
        prompt_tokens: prompts.iter().map(Vec::len).sum(),
        prefill_seconds,
        decode_seconds: start.elapsed().as_secs_f64() - prefill_seconds,
    })
}

/// One id per row: the argmax (`temperature` 0), else a draw from `softmax(logits / T)`.
///
/// # Shapes
/// - logits: `[batch, vocab]`
pub fn sample<B: RopeBackend>(
    logits: Tensor<B, 2>,
    temperature: f64,
    rng: &mut SplitMix,
) -> Vec<i64> {
    if temperature <= 0.0 {
        let ids = logits.argmax(1).into_data().convert::<i64>();
        return ids.to_vec::<i64>().expect("int data");
    }
    let [_, vocab] = logits.dims();
    let host: Vec<f64> = logits
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("float data");
    host.chunks(vocab)
        .map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let weights: Vec<f64> = row
                .iter()
                .map(|l| ((l - max) / temperature).exp())
                .collect();
            let total: f64 = weights.iter().sum();
            let mut u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            for (id, w) in weights.iter().enumerate() {
                if u < *w {
                    return id as i64;
                }
                u -= w;
            }
            vocab as i64 - 1
        })
        .collect()
}
