//! A small decoder-only transformer whose attention rotates q and k with [`Rope`]: token
//! embedding, pre-norm blocks of causal (grouped-query) self-attention and a SwiGLU MLP,
//! RMSNorm, and a tied or separate output head.
//!
//! [`Rope`] holds no parameters, so a trained model can be evaluated with another
//! [`RopeConfig`] ([`Transformer::with_rope`]) and at any length below its `max_positions`.

use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor};
use burn_rotary::RopeConfigExt;
use burn_rotary::{AxisOrder, Rope, RopeBackend, RopeConfig};

use crate::packing::Packing;

/// The most parameters a [`TransformerConfig`] may have: beyond, a typo, not a model (and an
/// abort on allocation).
pub const MAX_PARAMS: usize = 1 << 30;

/// The most attention scores one forward pass may hold (`batch × heads × seq²`, `f32`: 8 GiB):
/// the examples refuse a batch, prompt or generation past it before allocating.
pub const MAX_ATTENTION_SCORES: usize = 1 << 31;

/// The attention scores of `batch` sequences of `seq` tokens over `heads` heads (as `f64`: it
/// never overflows).
pub fn attention_scores(batch: usize, heads: usize, seq: usize) -> f64 {
    batch as f64 * heads as f64 * (seq as f64).powi(2)
}

/// Configuration of a [`Transformer`].
#[derive(Config, Debug)]
pub struct TransformerConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// The rotary embedding of every attention layer; its `head_dim` must be
    /// `d_model / n_heads`.
    pub rope: RopeConfig,
    /// Width of the residual stream.
    #[config(default = 64)]
    pub d_model: usize,
    /// Number of blocks.
    #[config(default = 2)]
    pub n_layers: usize,
    /// Query heads.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Key/value heads: `None` (or `n_heads`) for multi-head attention, fewer (dividing
    /// `n_heads`) for grouped-query attention, 1 for multi-query.
    #[config(default = "None")]
    pub n_kv_heads: Option<usize>,
    /// Hidden width of the MLP.
    #[config(default = 128)]
    pub d_ff: usize,
    /// Use the embedding matrix as the output head.
    #[config(default = true)]
    pub tied_head: bool,
    /// Standard deviation of the initial token embeddings.
    #[config(default = 0.02)]
    pub embedding_std: f64,
}

impl TransformerConfig {
    /// Width of a head: `d_model / n_heads`.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// Key/value heads: `n_kv_heads`, else `n_heads`.
    pub fn kv_heads(&self) -> usize {
        self.n_kv_heads.unwrap_or(self.n_heads)
    }

    /// About how many parameters the model has (as `f64`: it never overflows).
    pub fn param_estimate(&self) -> f64 {
        let (d, f, l) = (self.d_model as f64, self.d_ff as f64, self.n_layers as f64);
        let head = if self.tied_head { 1.0 } else { 2.0 };
        self.vocab_size as f64 * d * head + l * (4.0 * d * d + 3.0 * d * f)
    }

    /// Checks the shape fields against each other and the RoPE config, and the size against
    /// [`MAX_PARAMS`].
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("vocab_size", self.vocab_size),
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("d_ff", self.d_ff),
        ] {
            if value == 0 {
                return Err(format!("{name} is 0: expected at least 1"));
            }
        }
        let params = self.param_estimate();
        if params > MAX_PARAMS as f64 {
            return Err(format!(
                "vocab_size {} / d_model {} / d_ff {} / n_layers {}: about {params:.1e} \
                 parameters, more than {MAX_PARAMS}",
                self.vocab_size, self.d_model, self.d_ff, self.n_layers
            ));
        }
        let (d, h, kv) = (self.d_model, self.n_heads, self.kv_heads());
        if h == 0 || kv == 0 || d % h != 0 || h % kv != 0 {
            return Err(format!(
                "d_model {d}, n_heads {h}, n_kv_heads {kv}: n_heads must divide d_model and \
                 n_kv_heads must divide n_heads"
            ));
        }
        if self.rope.head_dim != self.head_dim() {
            return Err(format!(
                "rope.head_dim is {}, but d_model / n_heads is {}",
                self.rope.head_dim,
                self.head_dim()
            ));
        }
        self.rope.validate().map_err(|e| e.to_string())
    }

    /// Creates the model.
    ///
    /// # Panics
    /// If the config is invalid (see [`TransformerConfig::validate`]).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Transformer<B> {
        if let Err(e) = self.validate() {
            panic!("TransformerConfig::init: {e}");
        }
        let rope = self.rope.init(device);
        let norm = || RmsNormConfig::new(self.d_model).init(device);
        let blocks = (0..self.n_layers)
            .map(|_| Block {
                attn_norm: norm(),
                attn: self.attention(rope.clone(), device),
                mlp_norm: norm(),
                mlp: Mlp {
                    gate: linear(self.d_model, self.d_ff, device),
                    up: linear(self.d_model, self.d_ff, device),
                    down: linear(self.d_ff, self.d_model, device),
                },
            })
            .collect();
        // GPT-2's small embedding init keeps the tied head's initial logits near zero.
        let embedding = EmbeddingConfig::new(self.vocab_size, self.d_model)
            .with_initializer(Initializer::Normal {
                mean: 0.0,
                std: self.embedding_std,
            })
            .init(device);
        Transformer {
            embedding,
            blocks,
            norm: norm(),
            head: (!self.tied_head).then(|| linear(self.d_model, self.vocab_size, device)),
        }
    }

    fn attention<B: Backend>(&self, rope: Rope<B>, device: &B::Device) -> Attention<B> {
        let kv_dim = self.kv_heads() * self.head_dim();
        Attention {
            query: linear(self.d_model, self.d_model, device),
            key: linear(self.d_model, kv_dim, device),
            value: linear(self.d_model, kv_dim, device),
            output: linear(self.d_model, self.d_model, device),
            rope,
            n_heads: self.n_heads,
            n_kv_heads: self.kv_heads(),
        }
    }
}

fn linear<B: Backend>(d_input: usize, d_output: usize, device: &B::Device) -> Linear<B> {
    LinearConfig::new(d_input, d_output)
        .with_bias(false)
        .init(device)
}

/// The model. See [`TransformerConfig`].
#[derive(Module, Debug)]
pub struct Transformer<B: Backend> {
    pub(crate) embedding: Embedding<B>,
    /// The blocks, in order.
    pub blocks: Vec<Block<B>>,
    pub(crate) norm: RmsNorm<B>,
    pub(crate) head: Option<Linear<B>>,
}

/// A pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    pub(crate) attn_norm: RmsNorm<B>,
    pub(crate) attn: Attention<B>,
    pub(crate) mlp_norm: RmsNorm<B>,
    pub(crate) mlp: Mlp<B>,
}

/// Causal grouped-query self-attention with RoPE on q and k.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub(crate) query: Linear<B>,
    pub(crate) key: Linear<B>,
    pub(crate) value: Linear<B>,
    pub(crate) output: Linear<B>,
    pub(crate) rope: Rope<B>,
    pub(crate) n_heads: usize,
    pub(crate) n_kv_heads: usize,
}

/// SwiGLU MLP: `down(silu(gate(x)) * up(x))`.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    gate: Linear<B>,
    up: Linear<B>,
    down: Linear<B>,
}

impl<B: RopeBackend> Transformer<B> {
    /// Next-token logits.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`
    /// - output: `[batch, seq, vocab_size]`
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        self.forward_packed(tokens, None)
    }

    /// Next-token logits of packed rows: with `Some(packing)`, each row holds several
    /// documents, each rotated from position 0 and attending only within itself, so each
    /// document's logits are those [`forward`](Self::forward) gives it alone.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]`, the packing's [`dims`](Packing::dims)
    /// - output: `[batch, seq, vocab_size]`
    ///
    /// # Panics
    /// If the packing's `[batch, seq]` differs from the tokens'.
    pub fn forward_packed(
        &self,
        tokens: Tensor<B, 2, Int>,
        packing: Option<&Packing<B>>,
    ) -> Tensor<B, 3> {
        if let Some(packing) = packing {
            packing.check("Transformer::forward_packed", tokens.dims());
        }
        let x = self.embedding.forward(tokens);
        let x = self
            .blocks
            .iter()
            .fold(x, |x, block| block.forward(x, packing));
        self.logits(x)
    }

    /// The final norm and the output head.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]`
    /// - output: `[batch, seq, vocab_size]`
    pub(crate) fn logits(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self.norm.forward(x);
        match &self.head {
            Some(head) => head.forward(x),
            // Tied: the embedding rows have unit variance, so scale to keep logits O(1).
            None => {
                let [_, d_model] = self.embedding.weight.dims();
                x.matmul(self.embedding.weight.val().transpose().unsqueeze())
                    .div_scalar((d_model as f32).sqrt())
            }
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        self.embedding.weight.dims()[0]
    }

    /// The RoPE config of the attention layers.
    pub fn rope(&self) -> Option<&RopeConfig> {
        self.blocks.first().map(|block| block.attn.rope.config())
    }

    /// The same model with every attention's RoPE rebuilt from `config`: how a trained model
    /// is evaluated with another scaling (RoPE holds no parameters, so nothing else changes).
    ///
    /// # Panics
    /// If `config` is invalid or has another `head_dim`.
    pub fn with_rope(self, config: &RopeConfig, device: &B::Device) -> Self {
        if let Some(old) = self.rope() {
            assert_eq!(
                config.head_dim, old.head_dim,
                "Transformer::with_rope: head_dim {} differs from the model's {}",
                config.head_dim, old.head_dim
            );
        }
        let rope = config.init(device);
        self.map_ropes(|_| rope.clone())
    }

    /// The same model with every RoPE on its plain tensor-op path (`true`) or its backend's
    /// fast path (`false`); see [`Rope::with_tensor_ops`].
    pub fn with_tensor_ops(self, tensor_ops: bool) -> Self {
        self.map_ropes(|rope| rope.with_tensor_ops(tensor_ops))
    }

    fn map_ropes(mut self, mut f: impl FnMut(Rope<B>) -> Rope<B>) -> Self {
        for block in &mut self.blocks {
            block.attn.rope = f(block.attn.rope.clone());
        }
        self
    }
}

impl<B: RopeBackend> Block<B> {
    /// # Shapes
    /// - x, output: `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>, packing: Option<&Packing<B>>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.attn_norm.forward(x), packing);
        x.clone() + self.mlp.forward(self.mlp_norm.forward(x))
    }
}

/// Keys or values for grouped-query attention: each group of `heads / kv_heads` query heads
/// shares one key/value head, so head `h` gets kv head `h / (heads / kv_heads)`.
///
/// # Shapes
/// - t: `[batch, kv_heads, len, head_dim]`
/// - output: `[batch, heads, len, head_dim]`
pub(crate) fn share_kv<B: Backend>(t: Tensor<B, 4>, heads: usize) -> Tensor<B, 4> {
    let [batch, kv_heads, len, head_dim] = t.dims();
    if kv_heads == heads {
        return t;
    }
    t.unsqueeze_dim::<5>(2)
        .expand([batch, kv_heads, heads / kv_heads, len, head_dim])
        .reshape([batch, heads, len, head_dim])
}

impl<B: RopeBackend> Attention<B> {
    /// Causal attention; with a packing, also blocked between the documents of a row.
    ///
    /// # Shapes
    /// - x, output: `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>, packing: Option<&Packing<B>>) -> Tensor<B, 3> {
        let [batch, seq, d_model] = x.dims();
        let (heads, kv_heads) = (self.n_heads, self.n_kv_heads);
        let head_dim = d_model / heads;
        // [batch, seq, heads * head_dim] -> [batch, heads, seq, head_dim]
        let split = |t: Tensor<B, 3>, n| t.reshape([batch, seq, n, head_dim]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()), heads);
        let k = split(self.key.forward(x.clone()), kv_heads);
        let v = split(self.value.forward(x), kv_heads);
        let (q, k) = match packing {
            Some(packing) => self
                .rope
                .apply_qk(q, k, packing.positions(), AxisOrder::Bhsd),
            None => self.rope.forward_qk(q, k, 0),
        };
        let options = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let out = attention(
            q,
            share_kv(k, heads),
            share_kv(v, heads),
            packing.map(|packing| packing.mask(heads)),
            None,
            options,
        );
        let out = out.swap_dims(1, 2).reshape([batch, seq, d_model]);
        self.output.forward(out)
    }
}

impl<B: Backend> Mlp<B> {
    /// # Shapes
    /// - x, output: `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down
            .forward(silu(self.gate.forward(x.clone())) * self.up.forward(x))
    }
}
