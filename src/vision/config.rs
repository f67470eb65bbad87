//! What a run of the resolution benchmark does: the task, the model, the training and the
//! scoring, with the default and `--quick` sizes and a check of every value.

use super::model::{Encoding, VitConfig};
use super::task::{StrokeTask, CLASSES, MIN_SIDE};
use crate::model::MAX_PARAMS;

/// The largest grid side scored (`side²` tokens per image).
pub const MAX_SIDE: usize = 64;

/// Everything that determines a run's numbers (but the backend).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VitBenchConfig {
    /// Training seeds: one RoPE model and one learned-embedding model per seed.
    pub seeds: Vec<u64>,
    /// Worker threads (each job runs on one).
    pub workers: usize,
    /// Side of the training grid.
    pub train_grid: usize,
    /// Sides of the scored grids, ascending.
    pub grids: Vec<usize>,
    /// Colours of the task.
    pub colours: usize,
    /// Probability that a patch repeats its neighbour's colour along the stroke.
    pub keep: f64,
    /// Optimiser steps per model.
    pub steps: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Peak AdamW learning rate (linear warm-up, cosine decay to a tenth).
    pub learning_rate: f64,
    /// Warm-up steps.
    pub warmup_steps: usize,
    /// AdamW weight decay.
    pub weight_decay: f32,
    /// Scored images at the training grid (class-balanced; the same images for every method
    /// and seed). A larger grid gets as many patches in all, so fewer images
    /// ([`VitBenchConfig::eval_images_at`]).
    pub eval_images: usize,
    /// The fewest images scored at any grid.
    pub min_eval_images: usize,
    /// Tokens per scoring batch (at least one image).
    pub eval_batch_tokens: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// MLP hidden width.
    pub d_ff: usize,
    /// RoPE base of both axes.
    pub theta: f64,
    /// Standard deviation of the token embeddings at initialisation. Unit variance, as
    /// PyTorch's `nn.Embedding`: with ViT's 0.02, AdamW's steps (about the learning rate,
    /// 5e-3) swamp the learned embeddings' sin-cos start (RMS 0.02) within a few dozen steps,
    /// and the learned-embedding model stayed under 90 % at the training grid even after
    /// 1500 steps (2026-11-27).
    pub embed_std: f64,
    /// Base of the sin-cos table the learned embeddings start from.
    pub ape_init_base: f64,
    /// RMS of that table, as a multiple of the token embeddings'.
    pub ape_init_scale: f64,
}

impl VitBenchConfig {
    /// The default run: 3 seeds, trained 800 steps on 8×8 grids, scored at 8, 12, 16, 24 and 32.
    pub fn standard() -> Self {
        Self {
            seeds: vec![1, 2, 3],
            workers: crate::scaling_bench::jobs::default_workers(4),
            train_grid: 8,
            grids: vec![8, 12, 16, 24, 32],
            colours: 4,
            keep: 0.9,
            steps: 800,
            batch_size: 32,
            learning_rate: 5e-3,
            warmup_steps: 40,
            weight_decay: 0.05,
            eval_images: 256,
            min_eval_images: 16,
            eval_batch_tokens: 2048,
            d_model: 128,
            n_layers: 1,
            n_heads: 8,
            d_ff: 128,
            theta: 100.0,
            embed_std: 1.0,
            ape_init_base: 10.0,
            ape_init_scale: 1.0,
        }
    }

    /// `--quick`: one seed, fewer steps and images, grids 8, 16 and 32.
    pub fn quick() -> Self {
        Self {
            seeds: vec![1],
            grids: vec![8, 16, 32],
            steps: 600,
            eval_images: 128,
            min_eval_images: 8,
            ..Self::standard()
        }
    }

    /// The task.
    pub fn task(&self) -> StrokeTask {
        StrokeTask {
            colours: self.colours,
            keep: self.keep,
        }
    }

    /// Images scored at grid `side`: as many patches as [`VitBenchConfig::eval_images`] images
    /// of the training grid (attention's cost grows as side⁴), rounded up to whole sets of
    /// classes, and at least [`VitBenchConfig::min_eval_images`].
    pub fn eval_images_at(&self, side: usize) -> usize {
        let patches = self.eval_images * self.train_grid * self.train_grid;
        let images = patches.div_ceil(side * side).max(self.min_eval_images);
        images.div_ceil(CLASSES) * CLASSES
    }

    /// The model with `encoding`.
    pub fn model(&self, encoding: Encoding) -> VitConfig {
        VitConfig {
            vocab_size: self.task().vocab_size(),
            classes: CLASSES,
            side: self.train_grid,
            encoding,
            d_model: self.d_model,
            n_layers: self.n_layers,
            n_heads: self.n_heads,
            d_ff: self.d_ff,
            theta: self.theta,
            embed_std: self.embed_std,
            ape_init_base: self.ape_init_base,
            ape_init_scale: self.ape_init_scale,
        }
    }

    /// The learning rate of step `i` (`0..steps`): linear warm-up, then a cosine to a tenth.
    pub fn learning_rate_at(&self, i: usize) -> f64 {
        let warmup = ((i + 1) as f64 / self.warmup_steps.max(1) as f64).min(1.0);
        let progress = i as f64 / self.steps.max(1) as f64;
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        self.learning_rate * warmup * (0.1 + 0.9 * cosine)
    }

    /// Checks every value; the error is one line naming the flag and its value.
    pub fn validate(&self) -> Result<(), String> {
        let at_least = |flag: &str, value: usize, min: usize| {
            if value < min {
                Err(format!(
                    "{flag}: {value} is too small (need at least {min})"
                ))
            } else {
                Ok(())
            }
        };
        at_least("--seeds", self.seeds.len(), 1)?;
        at_least("--workers", self.workers, 1)?;
        at_least("--colours", self.colours, 2)?;
        at_least("--steps", self.steps, 1)?;
        at_least("--batch-size", self.batch_size, 1)?;
        at_least("--eval-images", self.eval_images, 1)?;
        at_least("--min-eval-images", self.min_eval_images, 1)?;
        at_least("--eval-batch-tokens", self.eval_batch_tokens, 1)?;
        if self.min_eval_images > self.eval_images {
            return Err(format!(
                "--min-eval-images: {} is more than --eval-images {}: the floor would replace \
                 the count",
                self.min_eval_images, self.eval_images
            ));
        }
        at_least("--layers", self.n_layers, 1)?;
        at_least("--d-ff", self.d_ff, 1)?;
        let side_ok = |flag: &str, side: usize| {
            if (MIN_SIDE..=MAX_SIDE).contains(&side) {
                Ok(())
            } else {
                Err(format!(
                    "{flag}: grid side {side} is outside {MIN_SIDE}..={MAX_SIDE}"
                ))
            }
        };
        side_ok("--train-grid", self.train_grid)?;
        // Bounded before anything is allocated (the embedding holds one row per colour).
        let (d, f) = (self.d_model as f64, self.d_ff as f64);
        let params = self.colours as f64 * d
            + self.n_layers as f64 * (4.0 * d * d + 2.0 * d * f)
            + (MAX_SIDE * MAX_SIDE) as f64 * d;
        if params > MAX_PARAMS as f64 {
            return Err(format!(
                "--colours {} / --d-model {} / --d-ff {} / --layers {}: about {params:.1e} \
                 parameters, more than {MAX_PARAMS}",
                self.colours, self.d_model, self.d_ff, self.n_layers
            ));
        }
        if self.grids.is_empty() {
            return Err("--grids: the list is empty".into());
        }
        for &side in &self.grids {
            side_ok("--grids", side)?;
        }
        if !self.grids.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!(
                "--grids: {} is not strictly ascending",
                list(&self.grids)
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "--lr: {} is not a positive number",
                self.learning_rate
            ));
        }
        if !(self.ape_init_base.is_finite() && self.ape_init_base > 1.0) {
            return Err(format!(
                "--ape-init-base: {} is not a number > 1",
                self.ape_init_base
            ));
        }
        if !(self.embed_std.is_finite() && self.embed_std > 0.0) {
            return Err(format!(
                "--embed-std: {} is not a number > 0",
                self.embed_std
            ));
        }
        if !(self.ape_init_scale.is_finite() && self.ape_init_scale > 0.0) {
            return Err(format!(
                "--ape-init-scale: {} is not a number > 0",
                self.ape_init_scale
            ));
        }
        if !(0.0..1.0).contains(&self.keep) {
            return Err(format!("--keep: {} is not in [0, 1)", self.keep));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(format!(
                "--weight-decay: {} is not a number >= 0",
                self.weight_decay
            ));
        }
        if !(self.theta.is_finite() && self.theta > 1.0) {
            return Err(format!("--theta: {} is not a number > 1", self.theta));
        }
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return Err(format!(
                "--heads: {} heads do not divide --d-model {}",
                self.n_heads, self.d_model
            ));
        }
        let head_dim = self.d_model / self.n_heads;
        if head_dim < 8 || !head_dim.is_multiple_of(4) {
            return Err(format!(
                "--d-model: {} / --heads {} = head dim {head_dim}; 2-D RoPE with NTK scaling \
                 needs a multiple of 4 that is at least 8",
                self.d_model, self.n_heads
            ));
        }
        Ok(())
    }
}

/// `a,b,c`.
pub(super) fn list(values: &[usize]) -> String {
    values
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_bad_values_are_named() {
        VitBenchConfig::standard().validate().unwrap();
        VitBenchConfig::quick().validate().unwrap();
        let bad = |f: fn(&mut VitBenchConfig)| {
            let mut c = VitBenchConfig::standard();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.grids = vec![8, 3]).starts_with("--grids: grid side 3"));
        assert!(bad(|c| c.grids = vec![16, 8]).contains("16,8"));
        assert!(bad(|c| c.n_heads = 3).starts_with("--heads: 3"));
        assert!(bad(|c| c.n_heads = 32).starts_with("--d-model: 128"));
        assert!(bad(|c| c.steps = 0).starts_with("--steps: 0"));
        assert!(bad(|c| c.keep = 1.0).starts_with("--keep: 1"));
        assert!(bad(|c| c.colours = 1).starts_with("--colours: 1"));
        // Bounded before allocating: 1e9 colours would be a 512 GB embedding.
        assert!(bad(|c| c.colours = 1_000_000_000).starts_with("--colours 1000000000"));
        assert!(bad(|c| {
            c.min_eval_images = 1000;
            c.eval_images = 10
        })
        .starts_with("--min-eval-images: 1000"));
        let c = VitBenchConfig::standard();
        assert_eq!(c.eval_images_at(8), 256);
        assert_eq!(c.eval_images_at(16), 64);
        assert_eq!(c.eval_images_at(32), 16);
        assert_eq!(c.eval_images_at(24), 32);
    }
}
