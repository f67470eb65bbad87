//! A small vision transformer over a grid of patch tokens, with either 2-D axial RoPE on q and k
//! or learned absolute position embeddings added to the input.
//!
//! Tokens: the patches row-major, no CLS token. Pre-norm blocks of bidirectional multi-head
//! attention and a GELU MLP; the mean of the final states over the patches is classified (mean
//! pooling, as in RoPE-ViT's and DeiT III's evaluations: nothing depends on one token finding
//! another among more patches). With RoPE, patch `(r, c)` sits at coordinates `(r, c)`
//! ([`GridCoords`]); RoPE holds no parameters, so a trained model runs on any grid and with
//! any other RoPE config ([`Vit::with_rope`]). Learned embeddings cover the training grid;
//! [`Vit::with_grid`] resamples them bilinearly to another (the classic ViT recipe for a new
//! resolution).

use burn::module::{Initializer, Module, Param};
use burn::nn::{
    Embedding, EmbeddingConfig, Gelu, LayerNorm, LayerNormConfig, Linear, LinearConfig,
};
use burn::tensor::backend::Backend;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Int, Tensor, TensorData};
use burn_rotary::{AxisOrder, GridCoords, Positions, Rope, RopeBackend, RopeConfig};
use burn_rotary::{GridCoordsExt, RopeConfigExt};

/// How the model knows where a patch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Encoding {
    /// 2-D axial RoPE ([`RopeConfig::vision_2d`]) in every attention layer.
    Rope2d,
    /// Learned absolute position embeddings, one per token of the training grid.
    Learned,
}

/// Configuration of a [`Vit`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VitConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// Number of classes.
    pub classes: usize,
    /// Side of the training grid (the learned embeddings cover it).
    pub side: usize,
    /// How positions are encoded.
    pub encoding: Encoding,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// Attention heads (`d_model / n_heads` must be a multiple of 4 for 2-D RoPE).
    pub n_heads: usize,
    /// Hidden width of the MLP.
    pub d_ff: usize,
    /// RoPE base of both axes.
    pub theta: f64,
    /// Standard deviation of the token embeddings at initialisation.
    pub embed_std: f64,
    /// Base of the sin-cos table the learned embeddings start from ([`sincos_2d`]).
    pub ape_init_base: f64,
    /// RMS of that table, as a multiple of `embed_std`.
    pub ape_init_scale: f64,
}

impl VitConfig {
    /// Width of a head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads.max(1)
    }

    /// The 2-D axial RoPE of the attention layers, as trained.
    pub fn rope(&self) -> Result<RopeConfig, String> {
        RopeConfig::vision_2d(self.head_dim(), self.theta).map_err(|e| e.to_string())
    }

    /// Creates the model.
    ///
    /// # Panics
    /// If `n_heads` does not divide `d_model` or the RoPE config is invalid.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Vit<B> {
        assert!(
            self.n_heads > 0 && self.d_model.is_multiple_of(self.n_heads),
            "VitConfig::init: n_heads {} must divide d_model {}",
            self.n_heads,
            self.d_model
        );
        let rope = match self.encoding {
            Encoding::Rope2d => Some(
                self.rope()
                    .unwrap_or_else(|e| panic!("VitConfig::init: {e}"))
                    .init(device),
            ),
            Encoding::Learned => None,
        };
        let embed = Initializer::Normal {
            mean: 0.0,
            std: self.embed_std,
        };
        let d = self.d_model;
        let linear = |i, o| LinearConfig::new(i, o).init(device);
        let norm = || LayerNormConfig::new(d).init(device);
        Vit {
            embedding: EmbeddingConfig::new(self.vocab_size, d)
                .with_initializer(embed)
                .init(device),
            position: (self.encoding == Encoding::Learned).then(|| {
                let rms = self.ape_init_scale * self.embed_std;
                let table = sincos_2d(self.side, d, self.ape_init_base, rms);
                let shape = [self.side * self.side, d];
                Param::from_tensor(Tensor::from_data(TensorData::new(table, shape), device))
            }),
            blocks: (0..self.n_layers)
                .map(|_| Block {
                    attn_norm: norm(),
                    attn: Attention {
                        qkv: linear(d, 3 * d),
                        output: linear(d, d),
                        rope: rope.clone(),
                        n_heads: self.n_heads,
                    },
                    mlp_norm: norm(),
                    up: linear(d, self.d_ff),
                    gelu: Gelu::new(),
                    down: linear(self.d_ff, d),
                })
                .collect(),
            norm: norm(),
            head: linear(d, self.classes),
            side: self.side,
        }
    }
}

/// The model. See [`VitConfig`].
#[derive(Module, Debug)]
pub struct Vit<B: Backend> {
    embedding: Embedding<B>,
    /// Learned position embeddings `[side², d_model]`, the patches' row-major.
    position: Option<Param<Tensor<B, 2>>>,
    blocks: Vec<Block<B>>,
    norm: LayerNorm<B>,
    head: Linear<B>,
    /// The grid side the learned embeddings cover.
    side: usize,
}

/// A pre-norm block: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    attn_norm: LayerNorm<B>,
    attn: Attention<B>,
    mlp_norm: LayerNorm<B>,
    up: Linear<B>,
    gelu: Gelu,
    down: Linear<B>,
}

/// Bidirectional multi-head self-attention, with RoPE on q and k when the model has it.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    qkv: Linear<B>,
    output: Linear<B>,
    rope: Option<Rope<B>>,
    n_heads: usize,
}

impl<B: RopeBackend> Vit<B> {
    /// Class logits of images of `side × side` patches.
    ///
    /// # Shapes
    /// - tokens: `[batch, side²]` (the patches row-major)
    /// - output: `[batch, classes]`
    ///
    /// # Panics
    /// If the model has learned embeddings for another grid (resample them with
    /// [`Vit::with_grid`]), or `tokens` is not `side²` long.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>, side: usize) -> Tensor<B, 2> {
        let [batch, seq] = tokens.dims();
        assert_eq!(
            seq,
            side * side,
            "Vit::forward: {seq} tokens for a {side}x{side} grid"
        );
        let device = tokens.device();
        let mut x = self.embedding.forward(tokens);
        if let Some(position) = &self.position {
            assert_eq!(
                side, self.side,
                "Vit::forward: learned embeddings of a {0}x{0} grid on a {side}x{side} one",
                self.side
            );
            x = x + position.val().unsqueeze();
        }
        let positions = self
            .has_rope()
            .then(|| GridCoords::new(&[side, side]).positions::<B>(&device));
        for block in &self.blocks {
            x = block.forward(x, positions.as_ref());
        }
        let [_, _, d_model] = x.dims();
        let pooled = self.norm.forward(x).mean_dim(1).reshape([batch, d_model]);
        self.head.forward(pooled)
    }

    /// Whether the attention layers rotate q and k.
    pub fn has_rope(&self) -> bool {
        self.blocks.iter().any(|b| b.attn.rope.is_some())
    }

    /// The same model with every attention's RoPE rebuilt from `config` (a model without RoPE
    /// is returned unchanged).
    pub fn with_rope(mut self, config: &RopeConfig, device: &B::Device) -> Self {
        if !self.has_rope() {
            return self;
        }
        let rope = config.init(device);
        for block in &mut self.blocks {
            block.attn.rope = Some(rope.clone());
        }
        self
    }

    /// The same model for a `side × side` grid: learned embeddings resampled bilinearly
    /// ([`resample_bilinear`]), a RoPE model unchanged.
    pub fn with_grid(mut self, side: usize) -> Self {
        let Some(position) = self.position.take() else {
            return self;
        };
        let table = position.val();
        let device = table.device();
        let [_, d] = table.dims();
        let values = table
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .expect("f32 table");
        let out = resample_bilinear(&values, self.side, side, d);
        let resized = Tensor::from_data(TensorData::new(out, [side * side, d]), &device);
        self.position = Some(Param::from_tensor(resized));
        self.side = side;
        self
    }
}

impl<B: RopeBackend> Block<B> {
    fn forward(&self, x: Tensor<B, 3>, positions: Option<&Positions<B>>) -> Tensor<B, 3> {
        let x = x.clone() + self.attn.forward(self.attn_norm.forward(x), positions);
        let h = self
            .gelu
            .forward(self.up.forward(self.mlp_norm.forward(x.clone())));
        x + self.down.forward(h)
    }
}

impl<B: RopeBackend> Attention<B> {
    /// # Shapes
    /// - x, output: `[batch, seq, d_model]`
    fn forward(&self, x: Tensor<B, 3>, positions: Option<&Positions<B>>) -> Tensor<B, 3> {
        let [batch, seq, d_model] = x.dims();
        let heads = self.n_heads;
        let head_dim = d_model / heads;
        // [batch, seq, 3 * d_model] -> 3 x [batch, heads, seq, head_dim]
        let qkv = self
            .qkv
            .forward(x)
            .reshape([batch, seq, 3, heads, head_dim]);
        let part = |i: usize| {
            qkv.clone()
                .narrow(2, i, 1)
                .reshape([batch, seq, heads, head_dim])
                .swap_dims(1, 2)
        };
        let (mut q, mut k, v) = (part(0), part(1), part(2));
        if let (Some(rope), Some(positions)) = (&self.rope, positions) {
            (q, k) = rope.apply_qk(q, k, positions, AxisOrder::Bhsd);
        }
        let out = attention(q, k, v, None, None, AttentionModuleOptions::default());
        self.output
            .forward(out.swap_dims(1, 2).reshape([batch, seq, d_model]))
    }
}

/// The initial learned embeddings: MAE's fixed 2-D sin-cos embedding (half the channels encode
/// the row, half the column, each as `sin` then `cos` of `pos · base^(−k/(D/4))`), with an RMS of
/// `rms`. It gives the learned table a smooth start from which a relative offset is a linear map
/// (as in MAE and DeiT III); a `base` near the training side keeps most frequencies useful on a
/// small grid.
///
/// Laid out `[side², d]`.
pub fn sincos_2d(side: usize, d: usize, base: f64, rms: f64) -> Vec<f32> {
    assert!(
        d.is_multiple_of(4),
        "sincos_2d: d_model {d} is not a multiple of 4"
    );
    let quarter = d / 4;
    let scale = rms * std::f64::consts::SQRT_2;
    let mut out = Vec::with_capacity(side * side * d);
    for r in 0..side {
        for c in 0..side {
            for pos in [r, c] {
                let angles =
                    (0..quarter).map(|k| pos as f64 * base.powf(-(k as f64) / quarter as f64));
                let angles: Vec<f64> = angles.collect();
                out.extend(angles.iter().map(|a| (scale * a.sin()) as f32));
                out.extend(angles.iter().map(|a| (scale * a.cos()) as f32));
            }
        }
    }
    out
}

/// Bilinear resampling of a `from × from` grid of `d`-vectors (row-major) to `to × to`, with
/// half-pixel centres and clamped edges (PyTorch's `interpolate(mode="bilinear",
/// align_corners=False)`): target cell `i` reads source coordinate `(i + 0.5)·from/to − 0.5`.
pub fn resample_bilinear(grid: &[f32], from: usize, to: usize, d: usize) -> Vec<f32> {
    assert_eq!(grid.len(), from * from * d, "resample_bilinear: grid size");
    // Per target index: the two source indices and the weight of the second.
    let taps: Vec<(usize, usize, f32)> = (0..to)
        .map(|i| {
            let x =
                ((i as f64 + 0.5) * from as f64 / to as f64 - 0.5).clamp(0.0, (from - 1) as f64);
            let lo = x.floor() as usize;
            (lo, (lo + 1).min(from - 1), (x - lo as f64) as f32)
        })
        .collect();
    let at = |r: usize, c: usize| &grid[(r * from + c) * d..(r * from + c + 1) * d];
    let mut out = Vec::with_capacity(to * to * d);
    for &(r0, r1, wr) in &taps {
        for &(c0, c1, wc) in &taps {
            let (a, b, c, e) = (at(r0, c0), at(r0, c1), at(r1, c0), at(r1, c1));
            out.extend((0..d).map(|j| {
                let top = a[j] * (1.0 - wc) + b[j] * wc;
                let bottom = c[j] * (1.0 - wc) + e[j] * wc;
                top * (1.0 - wr) + bottom * wr
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_a_grid_and_interpolates_linear_ramps() {
        let grid: Vec<f32> = (0..16).map(|i| i as f32).collect();
        assert_eq!(resample_bilinear(&grid, 4, 4, 1), grid);
        // value = 4 r + c; upsampled x2, interior cells sit at (i + 0.5) / 2 - 0.5.
        let up = resample_bilinear(&grid, 4, 8, 1);
        let coord = |i: usize| ((i as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, 3.0);
        for r in 0..8 {
            for c in 0..8 {
                let want = 4.0 * coord(r) + coord(c);
                assert!((up[r * 8 + c] - want).abs() < 1e-5, "({r}, {c})");
            }
        }
    }
}
