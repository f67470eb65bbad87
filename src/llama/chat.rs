//! Greedy chat generation with the KV cache: the prompt through the chat template, one prefill,
//! then one token per step until the end-of-sequence token or the token limit.

use std::time::Instant;

use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use burn_rotary::RopeBackend;

use super::{ChatTokenizer, GgufError, Llama, LlamaCache, Message};

/// What one generation produced and how long it took.
#[derive(Debug, Clone)]
pub struct ChatReply {
    /// The prompt's ids (the rendered chat).
    pub prompt_ids: Vec<u32>,
    /// The generated ids, the end-of-sequence token included when it came.
    pub ids: Vec<u32>,
    /// The generated text, special tokens removed.
    pub text: String,
    /// Seconds of the prefill (the prompt and the first token).
    pub prefill_seconds: f64,
    /// Seconds of the decoding steps after the first token.
    pub decode_seconds: f64,
}

impl ChatReply {
    /// Generated tokens per second of the decoding steps (after the first token).
    pub fn decode_tokens_per_second(&self) -> f64 {
        (self.ids.len().saturating_sub(1)) as f64 / self.decode_seconds.max(1e-9)
    }
}

/// The next token of a `[1, seq, vocab]` logits tensor's last row, greedily.
fn argmax_last<B: RopeBackend>(logits: Tensor<B, 3>) -> u32 {
    let [_, seq, vocab] = logits.dims();
    let last = logits
        .slice([0..1, seq - 1..seq, 0..vocab])
        .reshape([vocab]);
    last.argmax(0).into_scalar().elem::<i64>() as u32
}

/// Greedy continuation of `prompt_ids` with the KV cache: at most `max_tokens` new ids,
/// stopping after `eos`. Returns the ids, the prefill's seconds (prompt and first token) and the
/// decoding steps' seconds.
pub fn greedy<B: RopeBackend>(
    model: &Llama<B>,
    prompt_ids: &[u32],
    max_tokens: usize,
    eos: Option<u32>,
    device: &B::Device,
) -> (Vec<u32>, f64, f64) {
    let to_tensor = |ids: &[u32]| {
        Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids.iter().map(|&t| i64::from(t)).collect(), [1, ids.len()]),
            device,
        )
    };
    let start = Instant::now();
    let mut cache = LlamaCache::new(model, 0);
    let mut next = argmax_last(model.forward_cached(to_tensor(prompt_ids), &mut cache));
    let prefill_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut ids = vec![next];
    while ids.len() < max_tokens && Some(next) != eos {
        next = argmax_last(model.forward_cached(to_tensor(&[next]), &mut cache));
        ids.push(next);
    }
    (ids, prefill_seconds, start.elapsed().as_secs_f64())
}

/// Answers `prompt` (one user message, through the file's chat template), greedily, with at
/// most `max_tokens` new tokens.
pub fn chat<B: RopeBackend>(
    model: &Llama<B>,
    tokenizer: &ChatTokenizer,
    prompt: &str,
    max_tokens: usize,
    device: &B::Device,
) -> Result<ChatReply, GgufError> {
    let rendered = tokenizer.render_chat(&[Message::new("user", prompt)], true, None)?;
    let prompt_ids = tokenizer.encode(&rendered)?;
    let (ids, prefill_seconds, decode_seconds) =
        greedy(model, &prompt_ids, max_tokens, tokenizer.eos(), device);
    let content: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|&id| Some(id) != tokenizer.eos())
        .collect();
    Ok(ChatReply {
        text: tokenizer.decode(&content)?,
        prompt_ids,
        ids,
        prefill_seconds,
        decode_seconds,
    })
}
