//! [`Llama`]: a Llama-family decoder in Burn (RMSNorm, GQA attention through [`Rope`], SwiGLU,
//! tied or separate output head), its weights read from a GGUF file, with a KV cache.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::activation::{log_softmax, silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::{Rope, RopeBackend, RopeConfig};

use super::config::{LlamaConfig, QkLayout};
use super::error::GgufError;
use super::gguf::Gguf;

/// Score elements (`f32`) one attention chunk may hold: queries are taken in chunks so that a
/// 32k-token context needs ~256 MiB of scores per layer instead of `heads × n²` floats.
const SCORE_BUDGET: usize = 1 << 22;

/// A Llama-family language model. Build it with [`Llama::from_gguf`].
#[derive(Module, Debug)]
pub struct Llama<B: Backend> {
    embedding: Embedding<B>,
    layers: Vec<Layer<B>>,
    norm: RmsNorm<B>,
    /// The untied output head, `[hidden, vocab]`.
    output: Option<Linear<B>>,
    heads: usize,
    kv_heads: usize,
}

/// One pre-norm block.
#[derive(Module, Debug)]
struct Layer<B: Backend> {
    attn_norm: RmsNorm<B>,
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    out: Linear<B>,
    rope: Rope<B>,
    mlp_norm: RmsNorm<B>,
    gate: Linear<B>,
    up: Linear<B>,
    down: Linear<B>,
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
    /// Reads the model's weights from `gguf` (dequantized to `f32`) onto `device`, with the
    /// query/key rows in `layout` and the file's RoPE (or `rope`, which replaces it; its
    /// `layout` is set from `layout`).
    pub fn from_gguf(
        gguf: &Gguf,
        layout: QkLayout,
        rope: Option<RopeConfig>,
        device: &B::Device,
    ) -> Result<Self, GgufError> {
        let config = gguf.config()?;
        for (name, shape) in config.tensor_shapes() {
            gguf.check_tensor(&name, &shape)?;
        }
        let rope = rope
            .unwrap_or_else(|| config.rope.clone())
            .with_layout(layout.rope_layout())
            .try_init::<B>(device)
            .map_err(|e| GgufError::metadata("llama.rope.*", e.to_string()))?;
        let weights = Weights {
            gguf,
            config: &config,
            device,
        };
        let layers = (0..config.layers)
            .map(|i| weights.layer(i, layout, rope.clone()))
            .collect::<Result<_, _>>()?;
        let output = match config.tied_embeddings {
            true => None,
            false => {
                Some(weights.linear("output.weight", [config.vocab_size, config.hidden_size])?)
            }
        };
        Ok(Self {
            embedding: Embedding {
                weight: Param::from_tensor(
                    weights.matrix("token_embd.weight", [config.vocab_size, config.hidden_size])?,
                ),
            },
            layers,
            norm: weights.norm("output_norm.weight")?,
            output,
            heads: config.heads,
            kv_heads: config.kv_heads,
        })
    }

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
    /// `offset..`: entry `i` is `-log p(tokens[i + 1] | tokens[..=i])`, `seq - 1` entries. The
    /// logits are taken in chunks of rows, so a long sequence never holds `seq × vocab` floats.
    pub fn token_nll(&self, tokens: &[u32], offset: usize, device: &B::Device) -> Vec<f64> {
        let n = tokens.len();
        if n < 2 {
            return Vec::new();
        }
        let ids = Tensor::<B, 2, Int>::from_data(
            TensorData::new(tokens.iter().map(|&t| t as i64).collect(), [1, n]),
            device,
        );
        let hidden = self.hidden(ids, &mut LlamaCache::new(self, offset));
        let mut nll = Vec::with_capacity(n - 1);
        for start in (0..n - 1).step_by(512) {
            let end = (start + 512).min(n - 1);
            let rows = hidden.clone().slice([0..1, start..end]);
            let logp = log_softmax(self.logits(rows), 2);
            let targets = Tensor::<B, 3, Int>::from_data(
                TensorData::new(
                    tokens[start + 1..=end].iter().map(|&t| t as i64).collect(),
                    [1, end - start, 1],
                ),
                device,
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

/// Causal grouped-query attention of `seq` queries that follow `past` cached keys, in chunks of
/// queries (each sees only the keys up to its own position).
///
/// # Shapes
/// - q: `[batch, heads, seq, head_dim]`
/// - k, v: `[batch, kv_heads, past + seq, head_dim]`
/// - output: `[batch, heads, seq, head_dim]`
pub fn causal_attention<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    past: usize,
) -> Tensor<B, 4> {
    let [batch, heads, seq, head_dim] = q.dims();
    let kv_heads = k.dims()[1];
    assert!(
        kv_heads > 0 && heads % kv_heads == 0 && k.dims()[2] == past + seq && v.dims() == k.dims(),
        "causal_attention: q {:?}, k {:?}, v {:?} with {past} past tokens",
        q.dims(),
        k.dims(),
        v.dims()
    );
    let group = heads / kv_heads;
    let device = q.device();
    let scale = (head_dim as f64).powf(-0.5);
    let chunk = (SCORE_BUDGET / (heads * batch * (past + seq)).max(1)).clamp(16, seq.max(16));
    let mut outputs = Vec::new();
    for start in (0..seq).step_by(chunk) {
        let end = (start + chunk).min(seq);
        let (rows, keys) = (end - start, past + end);
        // Each kv head's query group as one matrix: [batch, kv_heads, group * rows, head_dim].
        let q = q.clone().slice([0..batch, 0..heads, start..end]).reshape([
            batch,
            kv_heads,
            group * rows,
            head_dim,
        ]);
        let k = k.clone().slice([0..batch, 0..kv_heads, 0..keys]);
        let v = v.clone().slice([0..batch, 0..kv_heads, 0..keys]);
        let scores = q.mul_scalar(scale).matmul(k.swap_dims(2, 3));
        let query_pos = Tensor::<B, 1, Int>::arange(
            past as i64 + start as i64..past as i64 + end as i64,
            &device,
        );
        let key_pos = Tensor::<B, 1, Int>::arange(0..keys as i64, &device);
        let future = key_pos
            .reshape([1, keys])
            .greater(query_pos.reshape([rows, 1]));
        let mask =
            Tensor::<B, 2>::zeros([rows, keys], &device).mask_fill(future, f32::NEG_INFINITY);
        let scores = scores.reshape([batch, kv_heads, group, rows, keys]) + mask.unsqueeze::<5>();
        let weights = softmax(scores, 4).reshape([batch, kv_heads, group * rows, keys]);
        outputs.push(weights.matmul(v).reshape([batch, heads, rows, head_dim]));
    }
    Tensor::cat(outputs, 2)
}

/// Reads tensors of one file onto one device.
struct Weights<'a, B: Backend> {
    gguf: &'a Gguf,
    config: &'a LlamaConfig,
    device: &'a B::Device,
}

impl<B: Backend> Weights<'_, B> {
    /// Tensor `name` as a `[rows, cols]` matrix.
    fn matrix(&self, name: &str, [rows, cols]: [usize; 2]) -> Result<Tensor<B, 2>, GgufError> {
        let values = self.gguf.tensor(name, &[rows, cols])?;
        Ok(Tensor::from_data(
            TensorData::new(values, [rows, cols]),
            self.device,
        ))
    }

    /// A linear layer from a `[out, in]` matrix (Burn's weight is `[in, out]`).
    fn linear(&self, name: &str, shape: [usize; 2]) -> Result<Linear<B>, GgufError> {
        let values = self.gguf.tensor(name, &shape)?;
        Ok(linear(&values, shape, self.device))
    }

    fn norm(&self, name: &str) -> Result<RmsNorm<B>, GgufError> {
        let d = self.config.hidden_size;
        let gamma = self.gguf.tensor(name, &[d])?;
        Ok(RmsNorm {
            gamma: Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [d]), self.device)),
            epsilon: self.config.rms_eps,
        })
    }

    /// The query or key projection, its rows un-permuted for [`QkLayout::Half`].
    fn qk(&self, name: &str, heads: usize, layout: QkLayout) -> Result<Linear<B>, GgufError> {
        let (d, head_dim) = (self.config.hidden_size, self.config.head_dim);
        let values = self.gguf.tensor(name, &[heads * head_dim, d])?;
        let values = match layout {
            QkLayout::Interleaved => values,
            QkLayout::Half => unpermute_rows(&values, heads, head_dim, d),
        };
        Ok(linear(&values, [heads * head_dim, d], self.device))
    }

    fn layer(&self, i: usize, layout: QkLayout, rope: Rope<B>) -> Result<Layer<B>, GgufError> {
        let c = self.config;
        let (d, f) = (c.hidden_size, c.intermediate_size);
        let name = |n: &str| format!("blk.{i}.{n}.weight");
        Ok(Layer {
            attn_norm: self.norm(&name("attn_norm"))?,
            query: self.qk(&name("attn_q"), c.heads, layout)?,
            key: self.qk(&name("attn_k"), c.kv_heads, layout)?,
            value: self.linear(&name("attn_v"), [c.kv_heads * c.head_dim, d])?,
            out: self.linear(&name("attn_output"), [d, c.heads * c.head_dim])?,
            rope,
            mlp_norm: self.norm(&name("ffn_norm"))?,
            gate: self.linear(&name("ffn_gate"), [f, d])?,
            up: self.linear(&name("ffn_up"), [f, d])?,
            down: self.linear(&name("ffn_down"), [d, f])?,
        })
    }
}

/// A bias-free linear layer computing `x W^T` from `W: [out, in]` (row-major), its weight
/// stored contiguous as Burn's `[in, out]` (a transposed view would be copied by some backends
/// at every matmul: a decoding step would copy every weight).
fn linear<B: Backend>(w: &[f32], [rows, cols]: [usize; 2], device: &B::Device) -> Linear<B> {
    let mut t = vec![0.0; w.len()];
    for (r, row) in w.chunks_exact(cols).enumerate() {
        for (c, &x) in row.iter().enumerate() {
            t[c * rows + r] = x;
        }
    }
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(t, [cols, rows]), device)),
        bias: None,
    }
}

/// Undoes llama.cpp's permutation of a query/key projection: in each head, the file's row
/// `2 j + t` is HF's row `t * head_dim / 2 + j` (`t` in {0, 1}, `j < head_dim / 2`).
pub fn unpermute_rows(values: &[f32], heads: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for t in 0..2 {
            for j in 0..half {
                let from = (h * head_dim + 2 * j + t) * cols;
                let to = (h * head_dim + t * half + j) * cols;
                out[to..to + cols].copy_from_slice(&values[from..from + cols]);
            }
        }
    }
    out
}
