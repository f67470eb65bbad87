//! Reading a [`RopeConfig`] from a HuggingFace `config.json`.
//!
//! Both forms transformers accepts are read:
//! - v5: `"rope_parameters": {"rope_type": .., "rope_theta": .., "factor": .., ..}`;
//! - v4: top-level `"rope_theta"` and `"rope_scaling": {"type" | "rope_type": .., ..}`.
//!
//! Like transformers' `standardize_rope_params`, a top-level `rope_theta`,
//! `partial_rotary_factor` or `original_max_position_embeddings` fills in what the dict lacks
//! (a top-level `original_max_position_embeddings`, as Phi-3 has, wins).

use serde_json::{Map, Value};

use crate::config::RopeConfig;
use crate::error::RopeError;
use crate::scaling::RopeScaling;

/// A view of a JSON object with typed, error-reporting getters.
pub(crate) struct HfParams<'a>(&'a Map<String, Value>);

impl HfParams<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn f64(&self, key: &'static str) -> Result<Option<f64>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| RopeError::invalid(key, v, "a number"))
            })
            .transpose()
    }

    pub(crate) fn usize(&self, key: &'static str) -> Result<Option<usize>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .or_else(|| {
                        v.as_f64()
                            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                            .map(|f| f as u64)
                    })
                    .map(|n| n as usize)
                    .ok_or_else(|| RopeError::invalid(key, v, "a non-negative integer"))
            })
            .transpose()
    }

    pub(crate) fn bool(&self, key: &'static str) -> Result<Option<bool>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| RopeError::invalid(key, v, "true or false"))
            })
            .transpose()
    }

    pub(crate) fn f64_list(&self, key: &'static str) -> Result<Option<Vec<f64>>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_array()
                    .and_then(|items| items.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| RopeError::invalid(key, v, "a list of numbers"))
            })
            .transpose()
    }

    fn str(&self, key: &'static str) -> Result<Option<&str>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| RopeError::invalid(key, v, "a string"))
            })
            .transpose()
    }
}

impl RopeConfig {
    /// Reads a HuggingFace `config.json` text. See [`RopeConfig::from_hf_json`].
    pub fn from_hf_str(text: &str) -> Result<Self, RopeError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| RopeError::Json(e.to_string()))?;
        Self::from_hf_json(&value)
    }

    /// Builds a validated config from a HuggingFace `config.json` value.
    ///
    /// Reads `head_dim` (or `hidden_size / num_attention_heads`), `max_position_embeddings`,
    /// `partial_rotary_factor` and the RoPE parameters in their v4 or v5 form. The layout is
    /// not part of HF configs: it defaults to [`RopeLayout::Half`](crate::RopeLayout::Half)
    /// (what transformers' LLaMA-style models use); set it with `with_layout` for GPT-J-style
    /// models.
    ///
    /// ```
    /// use burn_rotary::{RopeConfig, RopeScaling};
    ///
    /// let config = RopeConfig::from_hf_str(r#"{
    ///     "hidden_size": 4096, "num_attention_heads": 32, "max_position_embeddings": 131072,
    ///     "rope_theta": 500000.0,
    ///     "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    ///                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    /// }"#).unwrap();
    /// assert_eq!(config.head_dim, 128);
    /// assert!(matches!(config.scaling, RopeScaling::Llama3(_)));
    /// ```
    pub fn from_hf_json(value: &Value) -> Result<Self, RopeError> {
        let top = value
            .as_object()
            .ok_or_else(|| RopeError::Json(format!("expected a JSON object, got {value}")))?;
        let top = HfParams(top);

        let empty = Map::new();
        let params = match (top.get("rope_parameters"), top.get("rope_scaling")) {
            (Some(v), _) | (None, Some(v)) => v.as_object().ok_or_else(|| {
                RopeError::invalid("rope_parameters", v, "an object of RoPE parameters")
            })?,
            (None, None) => &empty,
        };
        let params = HfParams(params);
        if params.0.values().any(Value::is_object) {
            return Err(RopeError::invalid(
                "rope_parameters",
                "a dict of per-layer-type dicts",
                "a single RoPE parameter dict (pick one layer type's dict first)",
            ));
        }

        let head_dim = match top.usize("head_dim")?.filter(|d| *d > 0) {
            Some(d) => d,
            None => {
                let hidden = top.usize("hidden_size")?;
                let heads = top.usize("num_attention_heads")?;
                match (hidden, heads) {
                    (Some(h), Some(n)) if n > 0 => h / n,
                    (_, Some(0)) => {
                        return Err(RopeError::invalid("num_attention_heads", 0, "a count > 0"))
                    }
                    _ => {
                        return Err(RopeError::missing(
                            "head_dim",
                            "the HF config (or hidden_size and num_attention_heads)",
                        ))
                    }
                }
            }
        };

        let partial = match params.f64("partial_rotary_factor")? {
            Some(p) => Some(p),
            None => top.f64("partial_rotary_factor")?,
        };
        let rotary_dim = match partial {
            None => head_dim,
            Some(p) if p.is_finite() && p > 0.0 && p <= 1.0 => (head_dim as f64 * p) as usize,
            Some(p) => {
                return Err(RopeError::invalid(
                    "partial_rotary_factor",
                    p,
                    "a number in (0, 1]",
                ))
            }
        };

        let theta = match params.f64("rope_theta")? {
            Some(t) => t,
            None => top.f64("rope_theta")?.unwrap_or(10000.0),
        };
        let max_position_embeddings = top.usize("max_position_embeddings")?;
        let rope_type = match params.str("rope_type")? {
            Some(t) => t,
            None => params.str("type")?.unwrap_or("default"),
        };

        // transformers lets a top-level `original_max_position_embeddings` (Phi-3) override the
        // dict's, and defaults it to `max_position_embeddings`.
        let mut merged = params.0.clone();
        if let Some(original) = top.get("original_max_position_embeddings") {
            merged.insert("original_max_position_embeddings".into(), original.clone());
        }
        let scaling = RopeScaling::from_hf(rope_type, &HfParams(&merged), max_position_embeddings)?;

        let mut config = RopeConfig::new(head_dim)
            .with_theta(theta)
            .with_scaling(scaling)
            .with_rotary_dim((rotary_dim != head_dim).then_some(rotary_dim));
        if let Some(m) = max_position_embeddings {
            config = config.with_max_position_embeddings(m);
        } else if rope_type == "dynamic" {
            return Err(RopeError::missing(
                "max_position_embeddings",
                "rope_type \"dynamic\"",
            ));
        }
        config.validate()?;
        Ok(config)
    }
}
