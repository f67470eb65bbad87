//! Reading a [`Llama`]'s weights from a GGUF file: tensors dequantized to `f32`, the query/key
//! rows in the layout asked for, the file's RoPE (or an override).

use burn::module::Param;
use burn::nn::{Embedding, Linear, RmsNorm};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_rotary::RopeConfigExt;
use burn_rotary::{Rope, RopeBackend, RopeConfig};

use super::config::{LlamaConfig, QkLayout};
use super::error::GgufError;
use super::gguf::Gguf;
use super::model::{Layer, Llama};

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
