//! A KV cache for [`Transformer`]: [`Transformer::forward_cached`] appends columns to every
//! row's sequence and returns their logits, each attention layer attending to the keys and
//! values it cached at the earlier columns.
//!
//! # Prompts of different lengths: left padding, per-row positions, a key mask
//! The rows of a batch share one cache of `len` columns. Row `b`'s prompt is left-padded with
//! `pads[b]` pad columns, so that every row's latest token sits in the last column and one
//! decoding step appends one column to all rows. Row `b`'s token in column `c` is at RoPE
//! position `c - pads[b]` — its position in its own sequence, so a row's logits do not depend
//! on its padding or on the other rows (when decoding, `Positions::offsets` with the per-row
//! cache lengths `len - pads[b]`). A pad column gets position 0 and is masked out as a key for
//! every real token; a pad token attends to itself only, so that no softmax row is empty
//! (no NaN can reach a real row through a masked key's value).
//!
//! # Length-dependent scalings
//! Dynamic NTK and LongRoPE choose their frequencies from the sequence length, and re-running
//! a sequence of `L` tokens rotates *every* position with the frequencies of `L`: past the
//! first layer every cached key and value depends on them. So a cache can only be exact while
//! a row's frequencies stay the same: each row remembers the frequencies its entries were
//! computed with (rows have their own lengths, so with such a scaling RoPE runs once per row),
//! and when a row's change — LongRoPE once, when it crosses `original_max_position_embeddings`;
//! dynamic NTK at every step past `max_position_embeddings` — the cache recomputes every
//! column from the tokens it keeps ([`KvCache::recomputes`] counts these). Cached decoding then
//! gives, at every step, the logits of re-running the sequence so far (`tests/generate/mod.rs`
//! checks it). HF's cache instead keeps the keys of earlier lengths, which drifts from a
//! re-run; dynamic NTK past its threshold is as slow here as decoding without a cache.
//! Static scalings (none, linear, YaRN, Llama 3, ...) never recompute and rotate the whole
//! batch in one call.

use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use burn_rotary::{AxisOrder, Positions, Rope, RopeBackend, RopeConfig, SeqLenRule};

use crate::model::{share_kv, Attention, Block, Transformer};

/// The keys and values of one attention layer, `[batch, len, kv_heads, head_dim]`.
type LayerCache<B> = Option<(Tensor<B, 4>, Tensor<B, 4>)>;

/// The keys and values of every layer for a batch of left-padded sequences, and their tokens
/// (see the module docs).
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    layers: Vec<LayerCache<B>>,
    /// Every column so far, `[batch, len]`.
    tokens: Option<Tensor<B, 2, Int>>,
    pads: Vec<usize>,
    len: usize,
    /// The RoPE config, when its frequencies depend on the length.
    length_dependent: Option<RopeConfig>,
    /// Per row, which frequencies its entries were computed with ([`frequency_key`]).
    frequencies: Vec<usize>,
    recomputes: usize,
}

/// Which frequencies a sequence of `len` tokens is rotated with: 0 the initial ones, else the
/// ones of a longer length (equal keys, equal frequencies).
pub fn frequency_key(rope: &RopeConfig, len: usize) -> usize {
    if !length_dependent(rope) {
        return 0;
    }
    match rope.scaling.seq_len_rule(rope.max_position_embeddings) {
        SeqLenRule::Static => 0,
        SeqLenRule::Switch { threshold } => usize::from(len > threshold),
        SeqLenRule::Continuous { threshold } if len > threshold => len,
        SeqLenRule::Continuous { .. } => 0,
    }
}

/// Whether the frequencies of `rope` depend on the sequence length (dynamic NTK, LongRoPE).
pub fn length_dependent(rope: &RopeConfig) -> bool {
    rope.inv_freq.is_none()
        && !matches!(
            rope.scaling.seq_len_rule(rope.max_position_embeddings),
            SeqLenRule::Static
        )
}

impl<B: RopeBackend> KvCache<B> {
    /// An empty cache for `model` and a batch whose row `b` starts with `pads[b]` pad columns.
    pub fn new(model: &Transformer<B>, pads: Vec<usize>) -> Self {
        let rope = model.rope().filter(|r| length_dependent(r)).cloned();
        Self {
            layers: vec![None; model.blocks.len()],
            tokens: None,
            frequencies: vec![0; pads.len()],
            pads,
            len: 0,
            length_dependent: rope,
            recomputes: 0,
        }
    }

    /// Rows.
    pub fn batch(&self) -> usize {
        self.pads.len()
    }

    /// Columns cached so far, pads included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pad columns at the start of each row.
    pub fn pads(&self) -> &[usize] {
        &self.pads
    }

    /// Tokens cached so far in each row (its cache length: the RoPE position of its next
    /// token).
    pub fn lengths(&self) -> Vec<usize> {
        self.pads
            .iter()
            .map(|&p| self.len.saturating_sub(p))
            .collect()
    }

    /// Whether the model's RoPE frequencies depend on the length (then RoPE runs per row, and
    /// the cache may have to recompute; see the module docs).
    pub fn length_dependent(&self) -> bool {
        self.length_dependent.is_some()
    }

    /// How many times a row's frequencies changed, and every column was recomputed.
    pub fn recomputes(&self) -> usize {
        self.recomputes
    }
}

impl<B: RopeBackend> Transformer<B> {
    /// Appends `tokens` to the sequences in `cache` and returns their next-token logits.
    /// Column `j` of `tokens` is column `cache.len() + j` of the cache; a pad column of a row
    /// (column `< pads[b]`) may hold any valid id. The first call is the prefill of the
    /// left-padded prompts, each later one a decoding step of one column.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`, `batch` = `cache.batch()`
    /// - output: `[batch, seq, vocab_size]`
    ///
    /// # Panics
    /// If the batch differs from the cache's, the cache belongs to a model with another number
    /// of layers, or a position reaches the RoPE's `max_positions`.
    pub fn forward_cached(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: &mut KvCache<B>,
    ) -> Tensor<B, 3> {
        let [batch, seq] = tokens.dims();
        assert_eq!(
            (batch, self.blocks.len()),
            (cache.batch(), cache.layers.len()),
            "Transformer::forward_cached: (batch, layers) of the tokens and model vs the cache"
        );
        let tokens = match cache.tokens.take() {
            Some(cached) => Tensor::cat(vec![cached, tokens], 1),
            None => tokens,
        };
        let total = cache.len + seq;
        let frequencies: Vec<usize> = match &cache.length_dependent {
            Some(rope) => cache
                .pads
                .iter()
                .map(|&pad| frequency_key(rope, total.saturating_sub(pad)))
                .collect(),
            None => cache.frequencies.clone(),
        };
        let stale = !cache.is_empty() && frequencies != cache.frequencies;
        if stale {
            cache.layers.iter_mut().for_each(|layer| *layer = None);
            cache.len = 0;
            cache.recomputes += 1;
        }
        let new = if stale {
            tokens.clone()
        } else {
            tokens.clone().narrow(1, cache.len, seq)
        };
        let logits = self.run_cached(new, cache);
        cache.tokens = Some(tokens);
        cache.frequencies = frequencies;
        let width = logits.dims()[1];
        logits.narrow(1, width - seq, seq)
    }

    /// Runs the columns `tokens` after the `cache.len()` cached ones.
    fn run_cached(&self, tokens: Tensor<B, 2, Int>, cache: &mut KvCache<B>) -> Tensor<B, 3> {
        let seq = tokens.dims()[1];
        let heads = self.blocks.first().map_or(1, |b| b.attn.n_heads);
        let step = Step::new(cache, seq, heads, &tokens.device());
        let mut x = self.embedding.forward(tokens);
        for (block, layer) in self.blocks.iter().zip(&mut cache.layers) {
            x = block.forward_cached(x, layer, &step);
        }
        cache.len += seq;
        self.logits(x)
    }
}

/// What every layer of one call shares: the attention mask and the RoPE positions.
struct Step<B: Backend> {
    /// `true` = masked, `[batch, heads, seq, len]`; `None`: no padding, and either a prefill
    /// (causal) or one new column (it sees every key).
    mask: Option<Tensor<B, 4, Bool>>,
    /// Positions of the new columns.
    new: RowPositions<B>,
}

/// Positions for the whole batch in one RoPE call, or one per row (its own length).
enum RowPositions<B: Backend> {
    Batch(Positions<B>),
    PerRow(Vec<Positions<B>>),
}

impl<B: RopeBackend> Step<B> {
    fn new(cache: &KvCache<B>, seq: usize, heads: usize, device: &B::Device) -> Self {
        let (from, to) = (cache.len, cache.len + seq);
        let pads = &cache.pads;
        let explicit = pads.iter().any(|&p| p > 0) || (from > 0 && seq > 1);
        let mask = explicit.then(|| {
            let mut masked = Vec::with_capacity(pads.len() * seq * to);
            for &pad in pads {
                for query in from..to {
                    // A real query sees the real keys up to itself; a pad query itself only.
                    masked.extend((0..to).map(|key| {
                        let visible = key <= query && (key >= pad || key == query);
                        !visible
                    }));
                }
            }
            Tensor::<B, 4, Bool>::from_data(
                TensorData::new(masked, [pads.len(), 1, seq, to]),
                device,
            )
            .expand([pads.len(), heads, seq, to])
        });
        let per_row = cache.length_dependent();
        Self {
            mask,
            new: row_positions(pads, from, to, per_row, device),
        }
    }
}

/// Positions of columns `from..to`: column `c` of row `b` is at `c - pads[b]`, a pad column
/// at 0. Per row, a row's sequence length (the largest position + 1) is its own.
fn row_positions<B: Backend>(
    pads: &[usize],
    from: usize,
    to: usize,
    per_row: bool,
    device: &B::Device,
) -> RowPositions<B> {
    let ids = |pad: usize| (from..to).map(move |c| c.saturating_sub(pad) as i64);
    let of_rows = |rows: &[usize]| {
        if rows.iter().all(|&p| p <= from) {
            let offsets: Vec<usize> = rows.iter().map(|&p| from - p).collect();
            Positions::offsets_from_slice(&offsets, device)
        } else {
            let ids: Vec<i64> = rows.iter().flat_map(|&p| ids(p)).collect();
            Positions::ids_from_slice(&ids, [rows.len(), to - from], device)
        }
    };
    if per_row {
        RowPositions::PerRow(pads.chunks(1).map(of_rows).collect())
    } else {
        RowPositions::Batch(of_rows(pads))
    }
}

/// `x` rotated at `positions`.
///
/// # Shapes
/// - x, output: `[batch, seq, heads, head_dim]`
fn rotate<B: RopeBackend>(
    rope: &Rope<B>,
    x: Tensor<B, 4>,
    positions: &RowPositions<B>,
) -> Tensor<B, 4> {
    match positions {
        RowPositions::Batch(p) => rope.apply(x, p, AxisOrder::Bshd),
        RowPositions::PerRow(rows) => {
            let rows = rows
                .iter()
                .enumerate()
                .map(|(b, p)| rope.apply(x.clone().narrow(0, b, 1), p, AxisOrder::Bshd))
                .collect();
            Tensor::cat(rows, 0)
        }
    }
}

/// `t` with the columns of `new` appended (axis 1).
fn append<B: Backend>(cached: Option<Tensor<B, 4>>, new: Tensor<B, 4>) -> Tensor<B, 4> {
    match cached {
        Some(cached) => Tensor::cat(vec![cached, new], 1),
        None => new,
    }
}

impl<B: RopeBackend> Block<B> {
    fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        layer: &mut LayerCache<B>,
        step: &Step<B>,
    ) -> Tensor<B, 3> {
        let x = x.clone()
            + self
                .attn
                .forward_cached(self.attn_norm.forward(x), layer, step);
        x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
    }
}

impl<B: RopeBackend> Attention<B> {
    /// The new columns `x` attend to the cached ones and to each other; their keys and values
    /// are appended to `layer`.
    ///
    /// # Shapes
    /// - x, output: `[batch, seq, d_model]`
    fn forward_cached(
        &self,
        x: Tensor<B, 3>,
        layer: &mut LayerCache<B>,
        step: &Step<B>,
    ) -> Tensor<B, 3> {
        let [batch, seq, d_model] = x.dims();
        let (heads, kv_heads) = (self.n_heads, self.n_kv_heads);
        let head_dim = d_model / heads;
        // [batch, seq, n * head_dim] -> [batch, seq, n, head_dim]: the cache is kept in this
        // contiguous layout and grows along the seq axis (1).
        let split = |t: Tensor<B, 3>, n| t.reshape([batch, seq, n, head_dim]);
        let q = split(self.query.forward(x.clone()), heads);
        let k = split(self.key.forward(x.clone()), kv_heads);
        let v = split(self.value.forward(x), kv_heads);
        let (cached_k, cached_v) = layer.take().unzip();
        let (q, k) = match &step.new {
            RowPositions::Batch(new) => self.rope.apply_qk(q, k, new, AxisOrder::Bshd),
            new => (rotate(&self.rope, q, new), rotate(&self.rope, k, new)),
        };
        let k = append(cached_k, k);
        let v = append(cached_v, v);
        *layer = Some((k.clone(), v.clone()));
        let (q, k, v) = (q.swap_dims(1, 2), k.swap_dims(1, 2), v.swap_dims(1, 2));
        let options = AttentionModuleOptions {
            is_causal: step.mask.is_none() && seq > 1,
            ..Default::default()
        };
        let out = attention(
            q,
            share_kv(k, heads),
            share_kv(v, heads),
            step.mask.clone(),
            None,
            options,
        );
        let out = out.swap_dims(1, 2).reshape([batch, seq, d_model]);
        self.output.forward(out)
    }
}
