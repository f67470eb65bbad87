//! Reading a [`RopeConfig`] from a HuggingFace `config.json`.
//!
//! Both forms transformers accepts are read:
//! - v5: `"rope_parameters": {"rope_type": .., "rope_theta": .., "factor": .., ..}`;
//! - v4: top-level `"rope_theta"` and `"rope_scaling": {"type" | "rope_type": .., ..}`.
//!
//! The M-RoPE keys of Qwen2-VL and its successors are read too: `mrope_section` (with
//! `mrope_interleaved`) gives [`RopeConfig::position_axes`], and the hub's
//! `"type": "mrope"` means plain (`"default"`) frequencies.
//!
//! Like transformers' `standardize_rope_params`, a top-level `rope_theta`,
//! `partial_rotary_factor` or `original_max_position_embeddings` fills in what the dict lacks
//! (a top-level `original_max_position_embeddings`, as Phi-3 has, wins).

use serde_json::{Map, Value};

use crate::axes::PositionAxes;
use crate::config::RopeConfig;
use crate::error::RopeError;
use crate::hf_params::HfParams;
use crate::scaling::{HfScalingInput, RopeScaling};

impl RopeConfig {
    /// Reads a HuggingFace `config.json` text. See [`RopeConfig::from_hf_json`].
    pub fn from_hf_str(text: &str) -> Result<Self, RopeError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| RopeError::Json(e.to_string()))?;
        Self::from_hf_json(&value)
    }

    /// Builds a validated config from a HuggingFace `config.json` value with one RoPE setting.
    ///
    /// Reads `head_dim` (or `hidden_size / num_attention_heads`), `max_position_embeddings`,
    /// `partial_rotary_factor`, the RoPE parameters in their v4 or v5 form and M-RoPE's
    /// `mrope_section`. The layout is not part of HF configs: it defaults to
    /// [`RopeLayout::Half`](crate::RopeLayout::Half) (what transformers' LLaMA-style models use);
    /// set it with `with_layout` for GPT-J-style models. Models whose layers differ (per-layer
    /// types, NoPE layers, Gemma, Llama 4...) are read by
    /// [`ModelRopeConfig::from_hf_json`](crate::ModelRopeConfig::from_hf_json).
    ///
    /// ```
    /// use burn_rotary_core::{RopeConfig, RopeScaling};
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
        let params = match rope_dict(&top)? {
            Some(dict) => dict,
            None => &empty,
        };
        if params.values().any(Value::is_object) {
            return Err(RopeError::invalid(
                "rope_parameters",
                "a dict of per-layer-type dicts",
                "a single RoPE parameter dict (read per-layer settings with ModelRopeConfig)",
            ));
        }
        let merged = with_top_level_fallbacks(&top, params, None);
        read_setting(
            &HfParams(&merged),
            head_dim(&top)?,
            top.usize("max_position_embeddings")?,
        )
    }
}

/// The model's `rope_parameters` (v5) or `rope_scaling` (v4) object, if any.
pub(crate) fn rope_dict<'a>(
    top: &HfParams<'a>,
) -> Result<Option<&'a Map<String, Value>>, RopeError> {
    let value = top
        .0
        .get("rope_parameters")
        .filter(|v| !v.is_null())
        .or_else(|| top.0.get("rope_scaling").filter(|v| !v.is_null()));
    value
        .map(|v| {
            v.as_object().ok_or_else(|| {
                RopeError::invalid("rope_parameters", v, "an object of RoPE parameters")
            })
        })
        .transpose()
}

/// `head_dim`, else `hidden_size / num_attention_heads`.
pub(crate) fn head_dim(top: &HfParams) -> Result<usize, RopeError> {
    if let Some(d) = top.usize("head_dim")?.filter(|d| *d > 0) {
        return Ok(d);
    }
    match (top.usize("hidden_size")?, top.usize("num_attention_heads")?) {
        (_, Some(0)) => Err(RopeError::invalid("num_attention_heads", 0, "a count > 0")),
        (Some(h), Some(n)) => Ok(h / n),
        _ => Err(RopeError::missing(
            "head_dim",
            "the HF config (or hidden_size and num_attention_heads)",
        )),
    }
}

/// A RoPE dict with what transformers' `standardize_rope_params` takes from the top level:
/// `rope_theta` (else `default_theta`) and `partial_rotary_factor` where the dict lacks them, and
/// a top-level `original_max_position_embeddings` (Phi-3), which wins.
pub(crate) fn with_top_level_fallbacks(
    top: &HfParams,
    dict: &Map<String, Value>,
    default_theta: Option<f64>,
) -> Map<String, Value> {
    let mut merged = dict.clone();
    let absent = |m: &Map<String, Value>, key: &str| m.get(key).is_none_or(Value::is_null);
    for key in ["rope_theta", "partial_rotary_factor"] {
        if absent(&merged, key) {
            if let Some(v) = top.get(key) {
                merged.insert(key.into(), v.clone());
            }
        }
    }
    if let (true, Some(theta)) = (absent(&merged, "rope_theta"), default_theta) {
        merged.insert("rope_theta".into(), theta.into());
    }
    if let Some(original) = top.get("original_max_position_embeddings") {
        merged.insert("original_max_position_embeddings".into(), original.clone());
    }
    merged
}

/// Reads one validated RoPE setting from a (merged) RoPE dict: its type, θ, rotary dim and
/// M-RoPE sections, for heads of `head_dim`.
pub(crate) fn read_setting(
    params: &HfParams,
    head_dim: usize,
    max_position_embeddings: Option<usize>,
) -> Result<RopeConfig, RopeError> {
    let rope_type = match params.str("rope_type")? {
        Some(t) => t,
        None => params.str("type")?.unwrap_or("default"),
    };
    // The hub's Qwen2-VL configs say `"type": "mrope"`: plain frequencies, split by section.
    let rope_type = if rope_type == "mrope" {
        "default"
    } else {
        rope_type
    };
    let variant = RopeScaling::hf_variant(rope_type)?;

    let partial = params.f64("partial_rotary_factor")?;
    let rotary_dim = match partial {
        Some(p) if !(p.is_finite() && p > 0.0 && p <= 1.0) => {
            return Err(RopeError::invalid(
                "partial_rotary_factor",
                p,
                "a number in (0, 1]",
            ))
        }
        Some(_) if variant.owns_partial_rotary_factor => head_dim,
        Some(p) => {
            let dim = (head_dim as f64 * p) as usize;
            if dim == 0 || !dim.is_multiple_of(2) {
                return Err(RopeError::invalid(
                    "partial_rotary_factor",
                    p,
                    format!(
                        "a fraction of head_dim {head_dim} giving an even rotary dim > 0, not {dim}"
                    ),
                ));
            }
            dim
        }
        None => head_dim,
    };
    let scaling = (variant.read)(&HfScalingInput {
        params,
        max_position_embeddings,
        partial_rotary_factor: partial,
    })?;

    let mut config = RopeConfig::new(head_dim)
        .with_theta(params.f64("rope_theta")?.unwrap_or(10000.0))
        .with_scaling(scaling)
        .with_rotary_dim((rotary_dim != head_dim).then_some(rotary_dim))
        .with_position_axes(position_axes(params, rotary_dim)?);
    if let Some(m) = max_position_embeddings {
        config = config.with_max_position_embeddings(m);
    }
    config.validate()?;
    Ok(config)
}

/// M-RoPE's `mrope_section` (`mrope_interleaved`: Qwen3-VL's layout) as [`PositionAxes`].
fn position_axes(params: &HfParams, rotary_dim: usize) -> Result<Option<PositionAxes>, RopeError> {
    let Some(sections) = params.usize_list("mrope_section")? else {
        if let Some(true) = params.bool("mrope_interleaved")? {
            return Err(RopeError::missing(
                "mrope_section",
                "mrope_interleaved = true",
            ));
        }
        return Ok(None);
    };
    let sum: usize = sections.iter().sum();
    if sections.is_empty() || sum != rotary_dim / 2 {
        return Err(RopeError::invalid(
            "mrope_section",
            format!("{sections:?}"),
            format!(
                "sections that sum to rotary_dim / 2 = {} (they sum to {sum})",
                rotary_dim / 2
            ),
        ));
    }
    Ok(Some(if params.bool("mrope_interleaved")? == Some(true) {
        PositionAxes::InterleavedSections(sections)
    } else {
        PositionAxes::Sections(sections)
    }))
}
