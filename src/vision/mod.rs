//! The resolution-extrapolation benchmark (`examples/vit_bench.rs`): how a small ViT trained on
//! one grid of patches fares on larger grids, with 2-D RoPE as trained, two ways of stretching
//! RoPE, and learned absolute position embeddings resampled to the larger grid.
//!
//! 1. For each seed, train two models on the [`task`] at the training grid: one with 2-D axial
//!    RoPE, one with learned absolute position embeddings (same data, same seed).
//! 2. Score each at every grid side with every [`Method`] of its kind, without training: the
//!    same class-balanced images for every method and seed.
//! 3. Report accuracy and loss per method and grid, mean ± std over the seeds ([`report`]).
//!
//! Every job (a training, a method's scoring at one grid) runs on one thread of a worker
//! ([`crate::scaling_bench::jobs`]) and every random draw comes from a seed, so a binary that
//! installs [`crate::scaling_bench::AlignedAlloc`] prints the same tables on every run.

mod cli;
mod config;
pub mod model;
pub mod report;
mod run;
pub mod task;
mod verdict;

pub use cli::{parse_args, run_cli, Args, Cli, CliExit};
pub use config::{VitBenchConfig, MAX_SIDE};
pub use report::{csv, markdown, write_outputs};
pub use run::run;

use burn_rotary::{AxisFrequencies, RopeConfig, RopeLayout};
use model::{Encoding, VitConfig};

/// A way to run a trained model on a grid larger than the training one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// 2-D axial RoPE exactly as trained: patch `(r, c)` at coordinates `(r, c)`.
    Rope,
    /// Coordinates interpolated into the training range: each axis's inverse frequencies times
    /// `train_side / side`.
    RopeCoordInterp,
    /// NTK-aware scaling per axis: `θ' = θ · s^(d / (d − 2))`, `d` the axis's channels and `s`
    /// the side ratio.
    RopeNtk,
    /// Learned absolute embeddings, resampled bilinearly to the grid.
    LearnedInterp,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 4] = [
        Method::Rope,
        Method::RopeCoordInterp,
        Method::RopeNtk,
        Method::LearnedInterp,
    ];

    /// Name, as in the CSV and the tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rope => "rope",
            Self::RopeCoordInterp => "rope_coord_interp",
            Self::RopeNtk => "rope_ntk",
            Self::LearnedInterp => "ape_interp",
        }
    }

    /// What it is, in a few words.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Rope => "2-D axial RoPE as trained",
            Self::RopeCoordInterp => {
                "RoPE, coordinates interpolated to the training range (inv_freq × train/side)"
            }
            Self::RopeNtk => "RoPE, NTK θ scaling per axis (θ · s^(d/(d−2)))",
            Self::LearnedInterp => "learned absolute embeddings, resampled bilinearly",
        }
    }

    /// The kind of model it runs.
    pub fn encoding(self) -> Encoding {
        match self {
            Self::LearnedInterp => Encoding::Learned,
            _ => Encoding::Rope2d,
        }
    }

    /// The RoPE config of a model trained as `model` when scored on `side × side` grids (`None`
    /// for learned embeddings). Grids no larger than the training one use it as trained.
    pub fn rope(self, model: &VitConfig, side: usize) -> Option<Result<RopeConfig, String>> {
        let s = (side as f64 / model.side as f64).max(1.0);
        let head_dim = model.head_dim();
        Some(match self {
            Self::LearnedInterp => return None,
            Self::Rope => model.rope(),
            Self::RopeCoordInterp => model.rope().map(|mut config| {
                let inv_freq = config.inv_freq.take().expect("vision_2d sets inv_freq");
                config.inv_freq = Some(inv_freq.into_iter().map(|f| f / s).collect());
                config
            }),
            Self::RopeNtk => {
                let d = (head_dim / 2) as f64;
                let axis = AxisFrequencies {
                    dim: head_dim / 2,
                    theta: model.theta * s.powf(d / (d - 2.0)),
                };
                RopeConfig::per_axis(head_dim, &[axis, axis], RopeLayout::Half)
                    .map_err(|e| e.to_string())
            }
        })
    }
}

/// Loss and accuracy of one model with one method on one grid's images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// Mean cross-entropy, nats.
    pub loss: f64,
    /// Fraction of images classified right.
    pub accuracy: f64,
}

/// One method on one grid: a score per seed.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The method.
    pub method: Method,
    /// Grid side.
    pub grid: usize,
    /// One score per seed, in [`VitResults::seeds`] order.
    pub scores: Vec<Score>,
}

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct VitResults {
    /// The config of the run.
    pub config: VitBenchConfig,
    /// The seeds, in score order.
    pub seeds: Vec<u64>,
    /// One row per method and grid, methods in [`Method::ALL`] order, grids ascending.
    pub rows: Vec<Row>,
    /// Training accuracy over the last steps of each model: `(encoding, per seed)`.
    pub train_accuracy: Vec<(Encoding, Vec<f64>)>,
    /// Wall time of the training, seconds.
    pub train_seconds: f64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
}

impl VitResults {
    /// The row of `method` at `grid`.
    pub fn row(&self, method: Method, grid: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.method == method && r.grid == grid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretched_ropes_follow_their_formulas() {
        let config = VitBenchConfig::standard();
        let model = config.model(Encoding::Rope2d);
        let base = model.rope().unwrap().inv_freq.unwrap();
        let get = |m: Method, side| m.rope(&model, side).unwrap().unwrap().inv_freq.unwrap();
        assert_eq!(get(Method::RopeCoordInterp, 8), base);
        assert_eq!(get(Method::RopeNtk, 8), base);
        let pi = get(Method::RopeCoordInterp, 32);
        let ntk = get(Method::RopeNtk, 32);
        let half = base.len() / 2;
        for (i, f) in base.iter().enumerate() {
            assert!((pi[i] - f / 4.0).abs() < 1e-12);
            let j = (i % half) as f64;
            // theta' = theta * 4^(8/6): frequency j scaled by 4^(-j/3).
            assert!((ntk[i] - f * 4f64.powf(-j / 3.0)).abs() < 1e-12, "{i}");
        }
        assert!(
            (ntk[half - 1] - pi[half - 1]).abs() < 1e-12,
            "lowest: as interpolated"
        );
        assert!(Method::LearnedInterp.rope(&model, 32).is_none());
    }
}
