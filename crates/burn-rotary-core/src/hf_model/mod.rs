//! [`ModelRopeConfig`]: the RoPE of every decoder layer of a HuggingFace model,
//! read from its `config.json`.
//!
//! Models differ per layer: Gemma 3 and 4 rotate their sliding-window layers with another θ
//! (Gemma 4 its global layers with proportional RoPE on wider heads), OLMo 3 scales only its
//! full-attention layers, Llama 4 and SmolLM3 leave some layers without RoPE (NoPE), Qwen3.5's
//! linear-attention layers have none, and the Qwen VL models rotate by 3-axis positions
//! (M-RoPE). This module reads the transformers v4 form (`rope_theta`, `rope_scaling`,
//! `rope_local_base_freq`, `sliding_window_pattern`, `no_rope_layers`), the v5 form
//! (`rope_parameters`, possibly keyed by layer type, and `layer_types`) and composite configs
//! (the text model's settings under `text_config`); each Burn line builds one `Rope` per distinct
//! setting (its `ModelRope`).

mod families;

use serde_json::{Map, Value};

use crate::config::RopeConfig;
use crate::error::RopeError;
use crate::hf::{read_setting, with_top_level_fallbacks};
use crate::hf_params::HfParams;
use families::Family;

/// The RoPE of one decoder layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerRope {
    /// The layer rotates with setting `i` of [`ModelRopeConfig::settings`].
    Setting(usize),
    /// The layer uses no positional rotation (NoPE layers, linear attention).
    NoRope,
}

/// The RoPE of every decoder layer of a model, read from its HuggingFace `config.json`.
///
/// Layers of one layer type share one [`RopeConfig`] (its θ, scaling, head dim, rotary dim,
/// layout and M-RoPE sections), and each Burn line's `init` builds one module per distinct setting.
///
/// ```
/// use burn_rotary_core::{LayerRope, ModelRopeConfig, RopeScaling};
///
/// // Gemma 3 (transformers v4 form): 5 sliding layers (θ = 10⁴) then one global (θ = 10⁶, ×8).
/// let gemma = ModelRopeConfig::from_hf_str(r#"{
///     "model_type": "gemma3_text", "num_hidden_layers": 12, "head_dim": 256,
///     "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "sliding_window_pattern": 6,
///     "rope_scaling": {"rope_type": "linear", "factor": 8.0}
/// }"#).unwrap();
/// assert_eq!(gemma.layer_types()[5], "full_attention");
/// assert_eq!(gemma.layer(0).unwrap().unwrap().theta, 10_000.0);
/// assert_eq!(gemma.layer(5).unwrap().unwrap().scaling, RopeScaling::Linear { factor: 8.0 });
/// assert_eq!(gemma.settings().len(), 2); // one table per distinct setting, not per layer
/// assert_eq!(gemma.layer_rope(11).unwrap(), LayerRope::Setting(1));
/// ```
#[derive(Debug, Clone)]
pub struct ModelRopeConfig {
    model_type: Option<String>,
    layer_types: Vec<String>,
    layers: Vec<LayerRope>,
    settings: Vec<RopeConfig>,
}

impl ModelRopeConfig {
    /// Reads a `config.json` text. See [`ModelRopeConfig::from_hf_json`].
    pub fn from_hf_str(text: &str) -> Result<Self, RopeError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| RopeError::Json(e.to_string()))?;
        Self::from_hf_json(&value)
    }

    /// Reads the RoPE of every decoder layer from a `config.json` value (v4 or v5 form, flat or
    /// with `text_config`). Every setting is validated; a field that is missing, unknown or
    /// contradicts another is an error naming it.
    pub fn from_hf_json(value: &Value) -> Result<Self, RopeError> {
        let text = text_config(value)?;
        let top = HfParams(&text);
        let model_type = top.str("model_type")?.map(str::to_string);
        let family = Family::of(model_type.as_deref());
        let layer_types = family.layer_types(&top)?;
        let uses_rope = family.uses_rope(&top, &layer_types)?;
        let max_position_embeddings = top.usize("max_position_embeddings")?;

        let mut settings: Vec<RopeConfig> = Vec::new();
        let mut by_type: Vec<(&str, usize)> = Vec::new();
        let mut layers = Vec::with_capacity(layer_types.len());
        for (ty, rotates) in layer_types.iter().zip(uses_rope) {
            if !rotates {
                layers.push(LayerRope::NoRope);
                continue;
            }
            if let Some((_, i)) = by_type.iter().find(|(t, _)| t == ty) {
                layers.push(LayerRope::Setting(*i));
                continue;
            }
            let dict = family.rope_dict_of(&top, ty)?;
            let mut merged = with_top_level_fallbacks(&top, &dict, family.default_theta(ty));
            family.complete_mrope(&mut merged)?;
            let config = read_setting(
                &HfParams(&merged),
                family.head_dim(&top, ty)?,
                max_position_embeddings,
            )?
            .with_layout(family.layout());
            let i = match settings.iter().position(|s| same_setting(s, &config)) {
                Some(i) => i,
                None => {
                    settings.push(config);
                    settings.len() - 1
                }
            };
            by_type.push((ty, i));
            layers.push(LayerRope::Setting(i));
        }
        Ok(Self {
            model_type,
            layer_types,
            layers,
            settings,
        })
    }

    /// The config's `model_type` (the text model's, for composite configs).
    pub fn model_type(&self) -> Option<&str> {
        self.model_type.as_deref()
    }

    /// The number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// HF's layer type of each layer (`full_attention` for every layer of models without types).
    pub fn layer_types(&self) -> &[String] {
        &self.layer_types
    }

    /// The RoPE of each layer.
    pub fn layers(&self) -> &[LayerRope] {
        &self.layers
    }

    /// The distinct RoPE settings, in order of first use.
    pub fn settings(&self) -> &[RopeConfig] {
        &self.settings
    }

    /// The RoPE of layer `layer`, or the error naming an index out of range.
    pub fn layer_rope(&self, layer: usize) -> Result<LayerRope, RopeError> {
        layer_at(&self.layers, layer)
    }

    /// The setting of layer `layer`: `None` for a layer without RoPE.
    pub fn layer(&self, layer: usize) -> Result<Option<&RopeConfig>, RopeError> {
        Ok(match self.layer_rope(layer)? {
            LayerRope::Setting(i) => Some(&self.settings[i]),
            LayerRope::NoRope => None,
        })
    }

    /// Sets [`RopeConfig::max_positions`] of every setting.
    pub fn with_max_positions(mut self, max_positions: usize) -> Self {
        for s in &mut self.settings {
            *s = s.clone().with_max_positions(max_positions);
        }
        self
    }
}

/// Entry `layer` of `layers`, or the error naming an index out of range.
#[doc(hidden)]
pub fn layer_at(layers: &[LayerRope], layer: usize) -> Result<LayerRope, RopeError> {
    layers
        .get(layer)
        .copied()
        .ok_or_else(|| layer_out_of_range(layer, layers.len()))
}

fn layer_out_of_range(layer: usize, layers: usize) -> RopeError {
    RopeError::invalid(
        "layer_idx",
        layer,
        format!("a decoder layer index < num_hidden_layers = {layers}"),
    )
}

/// Whether two settings build the same module.
fn same_setting(a: &RopeConfig, b: &RopeConfig) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

/// The text model's settings: the top level with `text_config`'s entries over it.
fn text_config(value: &Value) -> Result<Map<String, Value>, RopeError> {
    let top = value
        .as_object()
        .ok_or_else(|| RopeError::Json(format!("expected a JSON object, got {value}")))?;
    match top.get("text_config") {
        None | Some(Value::Null) => Ok(top.clone()),
        Some(Value::Object(text)) => {
            let mut merged = top.clone();
            for key in ["text_config", "vision_config", "audio_config"] {
                merged.remove(key);
            }
            merged.extend(text.iter().map(|(k, v)| (k.clone(), v.clone())));
            Ok(merged)
        }
        Some(other) => Err(RopeError::invalid("text_config", other, "an object")),
    }
}
