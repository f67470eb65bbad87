//! HuggingFace model-level golden RoPE vectors (`tests/fixtures/hf_models_public.json`) and the
//! check of one case against [`ModelRopeConfig`]: each case is a model's `config.json`, a layer
//! index, position ids (`[B, S]`, or `[3, B, S]` for M-RoPE), q / k and HF's outputs for that
//! layer. The schema is described in `tests/fixtures/README.md`.

use burn::tensor::{Device, Tensor, TensorData};
use burn_rotary::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{max_abs_diff, nan_max, vacuous};

/// Largest absolute output error a case may have: HF's float32 angles carry up to about
/// `position * 1e-7` rad (positions stay below ~6100 in the fixtures).
pub const OUTPUT_TOLERANCE: f64 = 2e-3;

/// A model-level golden file.
#[derive(Debug, Deserialize)]
pub struct ModelsFixture {
    /// What produced it.
    pub generator: String,
    /// The cases.
    pub cases: Vec<ModelCase>,
}

/// A row-major tensor of the fixture.
#[derive(Debug, Deserialize)]
pub struct FixtureTensor {
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub data: Vec<f64>,
}

/// One case: a model's config, one of its layers, positions, inputs and HF's outputs.
#[derive(Debug, Deserialize)]
pub struct ModelCase {
    /// `model/layerN`.
    pub name: String,
    /// The model family the config imitates.
    pub model: String,
    /// The model's `config.json`.
    pub config: Value,
    /// The decoder layer.
    pub layer_idx: usize,
    /// Informational: HF's layer type of that layer.
    #[serde(default)]
    pub layer_type: Option<String>,
    /// Informational: whether HF rotates that layer.
    #[serde(default)]
    pub uses_rope: Option<bool>,
    /// `[B, S]`, or `[3, B, S]` (temporal, height, width) for M-RoPE.
    pub position_ids: FixtureTensor,
    /// `[B, H, S, D]` query input.
    pub q: FixtureTensor,
    /// `[B, H_kv, S, D]` key input.
    pub k: FixtureTensor,
    /// HF's rotated query.
    pub q_out: FixtureTensor,
    /// HF's rotated key.
    pub k_out: FixtureTensor,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCaseErrors {
    /// Max absolute error over q and k.
    pub max_abs: f64,
    /// Whether this crate rotates the layer.
    pub uses_rope: bool,
    /// Whether HF rotates it, where the case says.
    pub expected_uses_rope: Option<bool>,
}

impl ModelCaseErrors {
    /// Whether the outputs are within [`OUTPUT_TOLERANCE`] (NaN fails) and the layer's RoPE or
    /// NoPE agrees with HF's.
    pub fn passed(&self) -> bool {
        self.max_abs <= OUTPUT_TOLERANCE
            && self.expected_uses_rope.is_none_or(|u| u == self.uses_rope)
    }
}

impl ModelCase {
    /// Checks this case on `device`: its errors, or why it cannot be checked (a panic of the
    /// code under test is caught and reported).
    pub fn check(&self, device: &Device) -> Result<ModelCaseErrors, String> {
        crate::panic_report::catching_panics(|| self.check_unwinding(device))
    }

    fn check_unwinding(&self, device: &Device) -> Result<ModelCaseErrors, String> {
        let (q_dims, k_dims) = (dims4(&self.q, "q")?, dims4(&self.k, "k")?);
        for (name, input, output) in [
            ("q_out", &self.q, &self.q_out),
            ("k_out", &self.k, &self.k_out),
        ] {
            if output.shape != input.shape || output.data.len() != input.data.len() {
                return Err(format!(
                    "`{name}` has shape {:?}, its input {:?}",
                    output.shape, input.shape
                ));
            }
        }
        let [b, _, s, d] = q_dims;
        if k_dims[0] != b || k_dims[2] != s || k_dims[3] != d {
            return Err(format!("q {q_dims:?} and k {k_dims:?} disagree"));
        }
        let ids: Vec<i64> = self.position_ids.data.iter().map(|&p| p as i64).collect();
        if let Some(why) = vacuous(&[&self.q.data, &self.k.data], &ids) {
            return Err(why);
        }
        let model = ModelRopeConfig::from_hf_json(&self.config).map_err(|e| e.to_string())?;
        let Some(config) = model.layer(self.layer_idx).map_err(|e| e.to_string())? else {
            // No RoPE on this layer: HF's outputs are the inputs.
            return Ok(ModelCaseErrors {
                max_abs: nan_max(
                    max_abs_diff(&self.q.data, &self.q_out.data)?,
                    max_abs_diff(&self.k.data, &self.k_out.data)?,
                ),
                uses_rope: false,
                expected_uses_rope: self.uses_rope,
            });
        };
        if config.head_dim != d {
            return Err(format!(
                "the layer's head dim is {}, the case's tensors have {d}",
                config.head_dim
            ));
        }
        let (ids, axes) = self.position_rows(config, b, s)?;
        let largest = ids.iter().copied().max().unwrap_or(0).max(0) as usize;
        let config = config
            .clone()
            .with_max_positions(config.max_positions.max(largest + 1));
        let rope = config.try_init(device).map_err(|e| e.to_string())?;
        let positions = positions(&ids, axes, b, s, device)?;
        let input = |t: &FixtureTensor, dims: [usize; 4]| {
            let v: Vec<f32> = t.data.iter().map(|&x| x as f32).collect();
            Tensor::<4>::from_data(TensorData::new(v, dims), device)
        };
        let (q, k) = rope.apply_qk(
            input(&self.q, q_dims),
            input(&self.k, k_dims),
            &positions,
            AxisOrder::Bhsd,
        );
        let mut worst = 0.0f64;
        for (out, expected) in [(q, &self.q_out.data), (k, &self.k_out.data)] {
            let out = out
                .into_data()
                .try_into_vec_as::<f32>()
                .map_err(|e| format!("{e:?}"))?;
            worst = nan_max(worst, max_abs_diff(&out, expected)?);
        }
        Ok(ModelCaseErrors {
            max_abs: worst,
            uses_rope: true,
            expected_uses_rope: self.uses_rope,
        })
    }

    /// The position ids as `axes` rows of `[b, s]`, matching the layer's number of axes (HF
    /// gives 1-row ids to every M-RoPE row, and drops the text row of 4-row ids).
    fn position_rows(
        &self,
        config: &RopeConfig,
        b: usize,
        s: usize,
    ) -> Result<(Vec<i64>, usize), String> {
        let p = &self.position_ids;
        let rows = match p.shape.as_slice() {
            [pb, ps] if *pb == b && *ps == s => 1,
            [r, pb, ps] if *pb == b && *ps == s => *r,
            other => {
                return Err(format!(
                    "position_ids of shape {other:?} for q of batch {b}, seq {s}"
                ));
            }
        };
        if p.data.len() != rows * b * s || p.data.iter().any(|x| x.fract() != 0.0 || *x < 0.0) {
            return Err("position_ids must be non-negative integers filling their shape".into());
        }
        let ids: Vec<i64> = p.data.iter().map(|&x| x as i64).collect();
        let axes = config.axes();
        match (rows, axes) {
            (r, a) if r == a => Ok((ids, a)),
            (1, a) => Ok((ids.repeat(a), a)),
            (4, 3) => Ok((ids[b * s..].to_vec(), 3)),
            (r, a) => Err(format!(
                "{r}-row position ids for a layer with {a} position axes"
            )),
        }
    }
}

/// Positions of `axes` rows (`[axes, b, s]` ids).
fn positions(
    ids: &[i64],
    axes: usize,
    b: usize,
    s: usize,
    device: &Device,
) -> Result<Positions, String> {
    if ids.len() != axes * b * s {
        return Err(format!("{} position ids for [{axes}, {b}, {s}]", ids.len()));
    }
    Ok(if axes == 1 {
        Positions::ids_from_slice(ids, [b, s], device)
    } else {
        Positions::axes_from_slice(ids, [axes, b, s], device)
    })
}

fn dims4(t: &FixtureTensor, name: &str) -> Result<[usize; 4], String> {
    let dims: [usize; 4] = t
        .shape
        .as_slice()
        .try_into()
        .map_err(|_| format!("`{name}` has shape {:?}, expected [B, H, S, D]", t.shape))?;
    if dims.iter().product::<usize>() != t.data.len() || t.data.is_empty() {
        return Err(format!(
            "`{name}` has {} values for shape {dims:?}",
            t.data.len()
        ));
    }
    Ok(dims)
}
