//! A tiny decoder-only transformer whose attention rotates q and k with [`Rope`]: token
//! embedding, pre-norm blocks of causal self-attention and a SwiGLU MLP, RMSNorm, an output
//! head. The backend is the device's: nothing here names one.

use burn::config::Config;
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::silu;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Device, Int, Tensor};
use burn::train::{InferenceStep, SequenceOutput, TrainOutput, TrainStep};
use burn_rotary::prelude::*;

use super::data::CopyBatch;

/// Configuration of a [`TinyLm`].
#[derive(Config, Debug)]
pub struct TinyLmConfig {
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
    /// Attention heads.
    #[config(default = 4)]
    pub n_heads: usize,
    /// Hidden width of the MLP.
    #[config(default = 128)]
    pub d_ff: usize,
}

impl TinyLmConfig {
    /// Builds the model on `device`.
    ///
    /// # Panics
    /// If `d_model` is not `n_heads * rope.head_dim`, or the RoPE config is invalid.
    pub fn init(&self, device: &Device) -> TinyLm {
        assert!(
            self.n_heads * self.rope.head_dim == self.d_model,
            "TinyLmConfig: d_model {} must be n_heads {} x rope.head_dim {}",
            self.d_model,
            self.n_heads,
            self.rope.head_dim
        );
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        let blocks = (0..self.n_layers)
            .map(|_| Block {
                attn_norm: RmsNormConfig::new(self.d_model).init(device),
                qkv: linear(self.d_model, 3 * self.d_model),
                out: linear(self.d_model, self.d_model),
                mlp_norm: RmsNormConfig::new(self.d_model).init(device),
                gate: linear(self.d_model, self.d_ff),
                up: linear(self.d_model, self.d_ff),
                down: linear(self.d_ff, self.d_model),
                rope: self.rope.init(device),
                n_heads: self.n_heads,
            })
            .collect();
        TinyLm {
            embed: EmbeddingConfig::new(self.vocab_size, self.d_model).init(device),
            blocks,
            norm: RmsNormConfig::new(self.d_model).init(device),
            head: linear(self.d_model, self.vocab_size),
        }
    }
}

/// The model: see the module docs.
#[derive(Module, Debug)]
pub struct TinyLm {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    head: Linear,
}

#[derive(Module, Debug)]
struct Block {
    attn_norm: RmsNorm,
    qkv: Linear,
    out: Linear,
    mlp_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
    rope: Rope,
    n_heads: usize,
}

impl Block {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, width] = x.dims();
        let head_dim = width / self.n_heads;
        let heads = |t: Tensor<3>| {
            t.reshape([batch, seq, self.n_heads, head_dim])
                .swap_dims(1, 2)
        };
        let qkv = self.qkv.forward(self.attn_norm.forward(x.clone()));
        let [q, k, v] = [0, 1, 2].map(|i| heads(qkv.clone().narrow(2, i * width, width)));
        let (q, k) = self.rope.forward_qk(q, k, 0);
        let options = AttentionModuleOptions {
            is_causal: true,
            ..Default::default()
        };
        let attended = attention(q, k, v, None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, seq, width]);
        let x = x + self.out.forward(attended);
        let h = self.mlp_norm.forward(x.clone());
        x + self
            .down
            .forward(silu(self.gate.forward(h.clone())) * self.up.forward(h))
    }
}

impl TinyLm {
    /// Logits `[batch, seq, vocab]` of tokens `[batch, seq]`.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let x = self.embed.forward(tokens);
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        self.head.forward(self.norm.forward(x))
    }

    /// The next-token loss and logits of a batch.
    pub fn forward_loss(&self, batch: CopyBatch) -> SequenceOutput {
        let logits = self.forward(batch.inputs);
        let [b, s, v] = logits.dims();
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(
                logits.clone().reshape([b * s, v]),
                batch.targets.clone().reshape([b * s]),
            );
        SequenceOutput {
            loss,
            logits,
            predictions: None,
            targets: batch.targets,
        }
    }
}

impl TrainStep for TinyLm {
    type Input = CopyBatch;
    type Output = SequenceOutput;

    fn step(&self, batch: CopyBatch) -> TrainOutput<SequenceOutput> {
        let output = self.forward_loss(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl InferenceStep for TinyLm {
    type Input = CopyBatch;
    type Output = SequenceOutput;

    fn step(&self, batch: CopyBatch) -> SequenceOutput {
        self.forward_loss(batch)
    }
}
