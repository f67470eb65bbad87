//! Image / video (N-D) RoPE golden vectors (`tests/fixtures/nd_rope_public.json`, schema in
//! `tests/fixtures/README.md`) and the check of one case: the module built from the model
//! family's own RoPE parameters, rotating q and k at the case's coordinates, against the
//! model's outputs.

use burn::tensor::{Device, Tensor, TensorData};
use burn_rotary::prelude::*;
use serde::Deserialize;
use serde_json::Value;

use crate::compare::{max_abs_diff, nan_max, vacuous};

/// Outputs, absolute (the coordinates are small: float32 angles are exact to ~1e-6).
pub const OUTPUT_TOLERANCE: f64 = 1e-4;

/// A golden file of N-D cases.
#[derive(Debug, Deserialize)]
pub struct NdFixture {
    /// What produced it.
    pub generator: String,
    /// The cases.
    pub cases: Vec<NdCase>,
}

/// A tensor as the file stores it: a shape and its row-major values.
#[derive(Debug, Deserialize)]
pub struct Array<T> {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major.
    pub data: Vec<T>,
}

/// One case: a model family, its RoPE parameters, coordinates, inputs and outputs.
#[derive(Debug, Deserialize)]
pub struct NdCase {
    /// Case id.
    pub name: String,
    /// `flux`, `wan` or `qwen2_vl_vision`.
    pub model: String,
    /// The model's own RoPE parameters.
    pub params: Value,
    /// `"half"` or `"interleaved"`.
    pub layout: String,
    /// `[S, A]`: each token's (integer) coordinate on each axis.
    pub coords: Array<f64>,
    /// `[B, H, S, D]` query input.
    pub q: Array<f64>,
    /// `[B, H, S, D]` key input.
    pub k: Array<f64>,
    /// The model's rotated query.
    pub q_out: Array<f64>,
    /// The model's rotated key.
    pub k_out: Array<f64>,
}

impl NdFixture {
    /// Parses a golden file's JSON; `what` names it in errors.
    pub fn from_value(value: Value, what: &str) -> Result<Self, String> {
        let fixture: Self = serde_json::from_value(value)
            .map_err(|e| format!("{what} is not an N-D RoPE golden file: {e}"))?;
        if fixture.cases.is_empty() {
            return Err(format!("{what} has no cases: nothing to check"));
        }
        Ok(fixture)
    }

    /// Reads and parses a golden file.
    pub fn load(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
        let value = serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}"))?;
        Self::from_value(value, path)
    }
}

impl NdCase {
    fn param_f64(&self, key: &str) -> Result<f64, String> {
        self.params.get(key).and_then(Value::as_f64).ok_or_else(|| {
            format!(
                "params.{key}: expected a number, got {:?}",
                self.params.get(key)
            )
        })
    }

    fn param_usize(&self, key: &str) -> Result<Option<usize>, String> {
        match self.params.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|v| usize::try_from(v).ok())
                .map(Some)
                .ok_or_else(|| format!("params.{key}: expected a count, got {v}")),
        }
    }

    /// The head dim of q.
    fn head_dim(&self) -> Result<usize, String> {
        self.q
            .shape
            .last()
            .copied()
            .ok_or_else(|| "q.shape is empty".to_string())
    }

    /// The config a user builds from the family's parameters.
    pub fn config(&self) -> Result<RopeConfig, String> {
        let theta = self.param_f64("theta")?;
        let head_dim = self.head_dim()?;
        let given_dim = |key| -> Result<usize, String> {
            match self.param_usize(key)? {
                Some(d) if d != head_dim => Err(format!(
                    "params.{key} = {d} contradicts q's head dim {head_dim}"
                )),
                _ => Ok(head_dim),
            }
        };
        let config = match self.model.as_str() {
            "flux" => {
                let axes_dim: Vec<usize> = serde_json::from_value(
                    self.params.get("axes_dim").cloned().unwrap_or(Value::Null),
                )
                .map_err(|e| format!("params.axes_dim: {e}"))?;
                RopeConfig::flux(theta, &axes_dim)
            }
            "wan" => RopeConfig::wan(given_dim("attention_head_dim")?, theta),
            "qwen2_vl_vision" => RopeConfig::vision_2d(given_dim("head_dim")?, theta),
            other => {
                return Err(format!(
                    "model \"{other}\": expected flux, wan or qwen2_vl_vision"
                ));
            }
        }
        .map_err(|e| e.to_string())?;
        let layout: RopeLayout = self.layout.parse().map_err(|e| format!("{e}"))?;
        if layout != config.layout {
            return Err(format!(
                "layout \"{}\" contradicts {}'s layout {:?}",
                self.layout, self.model, config.layout
            ));
        }
        let largest = self.coords()?.into_iter().max().unwrap_or(0).max(0) as usize;
        let max_positions = config.max_positions.max(largest + 1);
        Ok(config.with_max_positions(max_positions))
    }

    /// The coordinates as integers, `[S, A]`.
    fn coords(&self) -> Result<Vec<i64>, String> {
        self.coords
            .data
            .iter()
            .map(|&c| {
                if c.fract() == 0.0 && c.abs() < 1e15 {
                    Ok(c as i64)
                } else {
                    Err(format!("coords: {c} is not an integer coordinate"))
                }
            })
            .collect()
    }

    /// The largest absolute error of q and k against the model's outputs on `device`, or why
    /// the case cannot be checked (a panic of the code under test is caught and reported).
    pub fn check(&self, device: &Device) -> Result<f64, String> {
        crate::panic_report::catching_panics(|| self.check_unwinding(device))
    }

    fn check_unwinding(&self, device: &Device) -> Result<f64, String> {
        let config = self.config()?;
        let &[seq, axes] = self.coords.shape.as_slice() else {
            return Err(format!(
                "coords.shape {:?}: expected [S, A]",
                self.coords.shape
            ));
        };
        if axes != config.axes() || self.coords.data.len() != seq * axes {
            return Err(format!(
                "coords of shape {:?} ({} values): expected [S, {}]",
                self.coords.shape,
                self.coords.data.len(),
                config.axes()
            ));
        }
        let tensor = |a: &Array<f64>, what: &str| -> Result<Tensor<4>, String> {
            let dims: [usize; 4] = a
                .shape
                .as_slice()
                .try_into()
                .map_err(|_| format!("{what}.shape {:?}: expected [B, H, S, D]", a.shape))?;
            if dims[2] != seq || dims.iter().product::<usize>() != a.data.len() {
                return Err(format!(
                    "{what}: shape {:?} with {} values and {seq} coordinates",
                    a.shape,
                    a.data.len()
                ));
            }
            let values: Vec<f32> = a.data.iter().map(|&v| v as f32).collect();
            Ok(Tensor::from_data(TensorData::new(values, dims), device))
        };
        let (q, k) = (tensor(&self.q, "q")?, tensor(&self.k, "k")?);
        for (out, input, what) in [
            (&self.q_out, &self.q, "q_out"),
            (&self.k_out, &self.k, "k_out"),
        ] {
            if out.shape != input.shape || out.data.len() != input.data.len() {
                return Err(format!(
                    "{what}: shape {:?} differs from its input's",
                    out.shape
                ));
            }
        }
        // [S, A] -> [A, 1, S]
        let by_token = self.coords()?;
        if let Some(why) = vacuous(&[&self.q.data, &self.k.data], &by_token) {
            return Err(why);
        }
        let coords: Vec<i64> = (0..axes)
            .flat_map(|a| (0..seq).map(move |s| (a, s)))
            .map(|(a, s)| by_token[s * axes + a])
            .collect();
        let positions = burn_rotary::Positions::axes_from_slice(&coords, [axes, 1, seq], device);
        let rope = config.try_init(device).map_err(|e| e.to_string())?;
        let (q, k) = rope.apply_qk(q, k, &positions, AxisOrder::Bhsd);
        let error = |t: Tensor<4>, expected: &[f64]| {
            let got = t.into_data().try_into_vec_as::<f64>().expect("float data");
            max_abs_diff(&got, expected)
        };
        Ok(nan_max(
            error(q, &self.q_out.data)?,
            error(k, &self.k_out.data)?,
        ))
    }
}
