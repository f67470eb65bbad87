//! [`Llama`]: a Llama-family decoder in Burn (RMSNorm, GQA attention through [`Rope`], SwiGLU,
//! tied or separate output head) with a KV cache; its weights are read by `weights.rs`.

use burn::module::Module;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::activation::{log_softmax, silu};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::RopeConfigExt;
use burn_rotary::{Rope, RopeBackend, RopeConfig};

use super::attention::causal_attention;

/// A Llama-family language model. Build it with [`Llama::from_gguf`].
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    pub(super) embedding: Embedding<B>,
    pub(super) layers: Vec<Layer<B>>,
    pub(super) norm: RmsNorm<B>,
    /// The untied output head, `[hidden, vocab]`.
    pub(super) output: Option<Linear<B>>,
    pub(super) heads: usize,
    pub(super) kv_heads: usize,
}

/// One pre-norm block.
#[derive(Module, Debug)]
pub(super) struct Layer<B: Backend> {
    pub(super) attn_norm: RmsNorm<B>,
    pub(super) query: Linear<B>,
    pub(super) key: Linear<B>,
    pub(super) value: Linear<B>,
    pub(super) out: Linear<B>,
    pub(super) rope: Rope<B>,
    pub(super) mlp_norm: RmsNorm<B>,
    pub(super) gate: Linear<B>,
    pub(super) up: Linear<B>,
    pub(super) down: Linear<B>,
}

/// Keys and values of the tokens seen so far, per layer (`[batch, kv_heads, len, head_dim]`),
/// and the position of the first of them.
#[derive(Debug, Clone)]
pub struct LlamaCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    start: usize,
    len: usize,
}

impl<B: Backend> LlamaCache<B> {
    /// An empty cache whose first token will sit at position `start`.
    pub fn new(model: &Llama<B>, start: usize) -> Self {
        Self {
            layers: vec![None; model.layers.len()],
            start,
            len: 0,
        }
    }

    /// Tokens cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The position the next token gets.
    pub fn next_position(&self) -> usize {
        self.start + self.len
    }
}

impl<B: RopeBackend> Llama<B> {
    /// The same model with every layer's RoPE rebuilt from `config` (another scaling; its layout
    /// must stay the one the model was loaded with).
    ///
    /// # Panics
    /// If `config` is invalid or changes the head dim or layout.
    pub fn with_rope(mut self, config: &RopeConfig, device: &B::Device) -> Self {
        let old = self.layers[0].rope.config();
        assert!(
            (config.head_dim, config.layout) == (old.head_dim, old.layout),
            "Llama::with_rope: head_dim {} / layout {:?} differ from the model's {} / {:?}",
            config.head_dim,
            config.layout,
            old.head_dim,
            old.layout
        );
        let rope = config.init::<B>(device);
        for layer in &mut self.layers {
            layer.rope = rope.clone();
        }
        self
    }

    /// Token ids.
    pub fn vocab(&self) -> usize {
        self.embedding.weight.dims()[0]
    }

    /// The RoPE of the layers.
    pub fn rope(&self) -> &RopeConfig {
        self.layers[0].rope.config()
    }

    /// Next-token logits of tokens at positions `offset..offset + seq`, without a cache.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, offset: usize) -> Tensor<B, 3> {
        let mut cache = LlamaCache::new(self, offset);
        self.logits(self.hidden(tokens, &mut cache))
    }

    /// Next-token logits of tokens that follow the cached ones; appends them to the cache.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, vocab]`
    pub fn forward_cached(
        &self,
        tokens: Tensor<B, 2, Int>,
        cache: &mut LlamaCache<B>,
    ) -> Tensor<B, 3> {
        self.logits(self.hidden(tokens, cache))
    }

    /// The final normed hidden states of tokens that follow the cached ones; appends them to
    /// the cache.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, hidden]`
    ///
    /// # Panics
    /// If the cache holds another number of layers.
    pub fn hidden(&self, tokens: Tensor<B, 2, Int>, cache: &mut LlamaCache<B>) -> Tensor<B, 3> {
        assert_eq!(
            cache.layers.len(),
            self.layers.len(),
            "Llama::hidden: cache of {} layers for a model of {}",
            cache.layers.len(),
            self.layers.len()
        );
        let seq = tokens.dims()[1];
        let offset = cache.next_position();
        let mut x = self.embedding.forward(tokens);
        for (layer, kv) in self.layers.iter().zip(&mut cache.layers) {
            x = layer.forward(x, offset, kv, self.heads, self.kv_heads);
        }
        cache.len += seq;
        self.norm.forward(x)
    }

    /// Logits of final hidden states.
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]`
    /// - output: `[batch, seq, vocab]`
    pub fn logits(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        match &self.output {
            Some(head) => head.forward(hidden),
            // Tied: `embedding [vocab, hidden] × hidden^T`, the embedding read as stored.
            None => {
                let [batch, seq, d] = hidden.dims();
                let rows = hidden.reshape([batch * seq, d]).transpose();
                let logits = self.embedding.weight.val().matmul(rows).transpose();
                logits.reshape([batch, seq, self.vocab()])
            }
        }
    }

    /// The negative log-likelihood of each next token of one sequence at positions
    /// `offset..`: entry `i` is `-log p(tokens[i + 1] | tokens[..=i])`, `seq - 1` entries.
    pub fn token_nll(&self, tokens: &[u32], offset: usize, device: &B::Device) -> Vec<f64> {
        if tokens.len() < 2 {
            return Vec::new();
        }
        let ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(
                tokens.iter().map(|&t| i64::from(t)).collect(),
                [1, tokens.len()],
            ),
            device,
        );
        let hidden = self.hidden(ids, &mut LlamaCache::new(self, offset));
        self.nll_of_hidden(hidden, tokens)
    }

    /// [`Llama::token_nll`] from the final hidden states of `tokens` (from [`Llama::hidden`]).
    /// The logits are taken in chunks of rows, so a long sequence never holds `seq × vocab`
    /// floats.
    ///
    /// # Panics
    /// If `hidden` is not `[1, tokens.len(), hidden]`.
    pub fn nll_of_hidden(&self, hidden: Tensor<B, 3>, tokens: &[u32]) -> Vec<f64> {
        let n = tokens.len();
        assert_eq!(
            hidden.dims()[..2],
            [1, n],
            "Llama::nll_of_hidden: hidden {:?} for {n} tokens",
            hidden.dims()
        );
        let device = hidden.device();
        let mut nll = Vec::with_capacity(n.saturating_sub(1));
        for start in (0..n.saturating_sub(1)).step_by(512) {
            let end = (start + 512).min(n - 1);
            let rows = hidden.clone().slice([0..1, start..end]);
            let logp = log_softmax(self.logits(rows), 2);
            let targets = Tensor::<B, 3, Int>::from_data(
                TensorData::new(
                    tokens[start + 1..=end]
                        .iter()
                        .map(|&t| i64::from(t))
                        .collect(),
                    [1, end - start, 1],
                ),
                &device,
            );
            let picked = logp.gather(2, targets).into_data().convert::<f32>();
            nll.extend(
                picked
                    .as_slice::<f32>()
                    .unwrap()
                    .iter()
                    .map(|&l| -f64::from(l)),
            );
        }
        nll
    }
}

impl<B: RopeBackend> Layer<B> {
    /// # Shapes
    /// - x, output: `[batch, seq, hidden]`
    fn forward(
        &self,
        x: Tensor<B, 3>,
        offset: usize,
        kv: &mut Option<(Tensor<B, 4>, Tensor<B, 4>)>,
        heads: usize,
        kv_heads: usize,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        let h = self.attn_norm.forward(x.clone());
        let head_dim = self.rope.config().head_dim;
        let split = |t: Tensor<B, 3>, n| t.reshape([batch, seq, n, head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(h.clone()), heads);
        let k = split(self.key.forward(h.clone()), kv_heads);
        let v = split(self.value.forward(h), kv_heads);
        let (q, k) = self.rope.forward_qk(q, k, offset);
        let (k, v) = match kv.take() {
            Some((k0, v0)) => (Tensor::cat(vec![k0, k], 2), Tensor::cat(vec![v0, v], 2)),
            None => (k, v),
        };
        *kv = Some((k.clone(), v.clone()));
        let past = k.dims()[2] - seq;
        let attn = causal_attention(q, k, v, past);
        let x = x + self
            .out
            .forward(attn.swap_dims(1, 2).reshape([batch, seq, heads * head_dim]));
        let h = self.mlp_norm.forward(x.clone());
        x.clone()
            + self
                .down
                .forward(silu(self.gate.forward(h.clone())) * self.up.forward(h))
    }
}
