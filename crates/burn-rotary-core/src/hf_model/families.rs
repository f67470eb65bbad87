//! What differs between model families when their `config.json` is read: layer types, RoPE
//! parameters per layer type, head dims, layouts, NoPE layers and M-RoPE layouts — each as
//! transformers' own config and modeling code for that family has it.

use serde_json::{Map, Value};

use crate::config::RopeLayout;
use crate::error::RopeError;
use crate::hf::{head_dim, rope_dict};
use crate::hf_params::HfParams;

/// The layer types this crate reads (transformers' names), and whether a layer of the type
/// rotates. Any other type is an error: its RoPE is not known here.
const LAYER_TYPES: [(&str, bool); 5] = [
    ("full_attention", true),
    ("sliding_attention", true),
    ("chunked_attention", true),
    ("linear_attention", false),
    ("conv", false),
];

/// Legacy layer-type names, read as transformers remaps them.
const LEGACY_LAYER_TYPES: [(&str, &str); 2] = [
    ("mamba", "linear_attention"),
    ("attention", "full_attention"),
];

/// The most decoder layers a config may have: far above any model's, and a bound before the
/// per-layer lists are allocated.
pub(crate) const MAX_LAYERS: usize = 1 << 16;

/// Whether layers of type `ty` (a type [`Family::layer_types`] accepted) rotate.
fn rotates(ty: &str) -> bool {
    LAYER_TYPES.iter().any(|&(t, r)| t == ty && r)
}

/// `ty` under its current name, or the error naming it (layer `i`).
fn layer_type(i: usize, ty: String) -> Result<String, RopeError> {
    if LAYER_TYPES.iter().any(|&(t, _)| t == ty) {
        return Ok(ty);
    }
    match LEGACY_LAYER_TYPES.iter().find(|&&(old, _)| old == ty) {
        Some(&(_, new)) => Ok(new.to_string()),
        None => Err(RopeError::invalid(
            "layer_types",
            format!("{ty:?} (layer {i})"),
            format!(
                "one of {:?} (or the legacy {:?})",
                LAYER_TYPES.map(|(t, _)| t),
                LEGACY_LAYER_TYPES.map(|(t, _)| t)
            ),
        )),
    }
}

/// The model families whose RoPE is not one setting shared by every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// Gemma 3: sliding layers θ = `rope_local_base_freq`, unscaled; global layers scaled.
    Gemma3,
    /// Gemma 4: like Gemma 3, global layers proportional RoPE on `global_head_dim` heads.
    Gemma4,
    /// OLMo 3: the scaling (YaRN) on full-attention layers only.
    Olmo3,
    /// Llama 4: interleaved pairs, `no_rope_layers`.
    Llama4,
    /// SmolLM3: `no_rope_layers`.
    SmolLm3,
    /// Qwen2-VL, Qwen2.5-VL: chunked M-RoPE sections.
    Qwen2Vl,
    /// Qwen3-VL: interleaved M-RoPE sections.
    Qwen3Vl,
    /// Qwen3.5: interleaved M-RoPE, linear-attention layers without RoPE.
    Qwen35,
    /// Every other model: one setting, every layer rotated.
    Plain,
}

impl Family {
    /// The family of a `model_type` (outer or `text_config`'s).
    pub(super) fn of(model_type: Option<&str>) -> Self {
        match model_type.unwrap_or("") {
            "gemma3" | "gemma3_text" => Self::Gemma3,
            "gemma4" | "gemma4_text" => Self::Gemma4,
            "olmo3" => Self::Olmo3,
            "llama4" | "llama4_text" => Self::Llama4,
            "smollm3" => Self::SmolLm3,
            "qwen2_vl" | "qwen2_vl_text" | "qwen2_5_vl" | "qwen2_5_vl_text" => Self::Qwen2Vl,
            "qwen3_vl" | "qwen3_vl_text" | "qwen3_vl_moe" | "qwen3_vl_moe_text" => Self::Qwen3Vl,
            "qwen3_5" | "qwen3_5_text" | "qwen3_5_moe" | "qwen3_5_moe_text" => Self::Qwen35,
            _ => Self::Plain,
        }
    }

    /// The layer type of every decoder layer: `layer_types` (legacy names remapped, unknown
    /// names refused), else the family's pattern.
    pub(super) fn layer_types(self, top: &HfParams) -> Result<Vec<String>, RopeError> {
        let layers = top.usize("num_hidden_layers")?;
        if let Some(n) = layers.filter(|&n| n > MAX_LAYERS) {
            return Err(RopeError::invalid(
                "num_hidden_layers",
                n,
                format!("at most {MAX_LAYERS} layers"),
            ));
        }
        let mut types = match top.get("layer_types") {
            Some(value) => {
                let types = value
                    .as_array()
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|t| t.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| RopeError::invalid("layer_types", value, "a list of strings"))?;
                if types.len() > MAX_LAYERS {
                    return Err(RopeError::invalid(
                        "layer_types",
                        format!("a list of {} entries", types.len()),
                        format!("at most {MAX_LAYERS} layers"),
                    ));
                }
                if let Some(n) = layers.filter(|n| *n != types.len()) {
                    return Err(RopeError::invalid(
                        "layer_types",
                        format!("a list of {} entries", types.len()),
                        format!("one entry per layer: num_hidden_layers = {n}"),
                    ));
                }
                types
                    .into_iter()
                    .enumerate()
                    .map(|(i, ty)| layer_type(i, ty))
                    .collect::<Result<_, _>>()?
            }
            None => {
                let n = layers.ok_or_else(|| {
                    RopeError::missing("num_hidden_layers", "a model-level RoPE (no layer_types)")
                })?;
                let every = |period: usize, other: &str, every_nth: &str| {
                    (0..n)
                        .map(|i| {
                            if (i + 1) % period != 0 {
                                other
                            } else {
                                every_nth
                            }
                            .to_string()
                        })
                        .collect::<Vec<_>>()
                };
                match self {
                    Self::Gemma3 => {
                        let pattern = top.usize("sliding_window_pattern")?.unwrap_or(6);
                        if pattern == 0 {
                            return Err(RopeError::invalid(
                                "sliding_window_pattern",
                                0,
                                "a period > 0",
                            ));
                        }
                        every(pattern, "sliding_attention", "full_attention")
                    }
                    Self::Gemma4 => every(6, "sliding_attention", "full_attention"),
                    Self::Olmo3 => every(4, "sliding_attention", "full_attention"),
                    Self::Qwen35 => {
                        let interval = top.usize("full_attention_interval")?.unwrap_or(4);
                        if interval == 0 {
                            return Err(RopeError::invalid(
                                "full_attention_interval",
                                0,
                                "a period > 0",
                            ));
                        }
                        every(interval, "linear_attention", "full_attention")
                    }
                    _ => vec!["full_attention".to_string(); n],
                }
            }
        };
        // Gemma 4's config forces its last layer to full attention.
        if let (Self::Gemma4, Some(last)) = (self, types.last_mut()) {
            *last = "full_attention".to_string();
        }
        Ok(types)
    }

    /// Whether each layer rotates: `no_rope_layers` (1 = RoPE, 0 = NoPE, as transformers reads
    /// it), the family's default, and no RoPE on linear-attention layers.
    pub(super) fn uses_rope(
        self,
        top: &HfParams,
        layer_types: &[String],
    ) -> Result<Vec<bool>, RopeError> {
        let n = layer_types.len();
        let given = top.usize_list("no_rope_layers")?;
        // Llama 4 treats an empty list as absent.
        let given = given.filter(|l| !(self == Self::Llama4 && l.is_empty()));
        let flags = match given {
            Some(list) => {
                if list.len() != n {
                    return Err(RopeError::invalid(
                        "no_rope_layers",
                        format!("a list of {} entries", list.len()),
                        format!("one 0/1 flag per layer: {n} entries"),
                    ));
                }
                if let Some(bad) = list.iter().find(|f| **f > 1) {
                    return Err(RopeError::invalid(
                        "no_rope_layers",
                        bad,
                        "flags 1 (RoPE) or 0 (no RoPE)",
                    ));
                }
                list.iter().map(|f| *f == 1).collect()
            }
            None if matches!(self, Self::Llama4 | Self::SmolLm3) => {
                let interval = top.usize("no_rope_layer_interval")?.unwrap_or(4);
                if interval == 0 {
                    return Err(RopeError::invalid(
                        "no_rope_layer_interval",
                        0,
                        "a period > 0",
                    ));
                }
                (0..n).map(|i| (i + 1) % interval != 0).collect()
            }
            None => vec![true; n],
        };
        Ok(flags
            .into_iter()
            .zip(layer_types)
            .map(|(flag, ty)| flag && rotates(ty))
            .collect())
    }

    /// The RoPE dict of layer type `ty` (before the top-level fallbacks), or the error naming
    /// the layer type that has none.
    pub(super) fn rope_dict_of(
        self,
        top: &HfParams,
        ty: &str,
    ) -> Result<Map<String, Value>, RopeError> {
        let dict = rope_dict(top)?;
        if let Some(keyed) = dict.filter(|d| d.values().any(Value::is_object)) {
            return match keyed.get(ty) {
                Some(Value::Object(d)) => Ok(d.clone()),
                _ => Err(RopeError::invalid(
                    "rope_parameters",
                    format!("no RoPE parameters for layer type \"{ty}\""),
                    format!(
                        "a dict for every layer type that uses RoPE (it has {:?})",
                        keyed.keys().collect::<Vec<_>>()
                    ),
                )),
            };
        }
        let flat = dict.cloned().unwrap_or_default();
        let sliding = ty == "sliding_attention";
        let entry = |pairs: &[(&str, Value)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Map<String, Value>>()
        };
        Ok(match self {
            // Gemma 3 (v4 form): `rope_scaling` and `rope_theta` are the global layers'.
            Self::Gemma3 if sliding => {
                let theta = top.f64("rope_local_base_freq")?.unwrap_or(10_000.0);
                entry(&[
                    ("rope_type", "default".into()),
                    ("rope_theta", theta.into()),
                ])
            }
            Self::Gemma4 if dict.is_none() => {
                if sliding {
                    entry(&[
                        ("rope_type", "default".into()),
                        ("rope_theta", 10_000.0.into()),
                    ])
                } else {
                    entry(&[
                        ("rope_type", "proportional".into()),
                        ("partial_rotary_factor", 0.25.into()),
                        ("rope_theta", 1_000_000.0.into()),
                    ])
                }
            }
            // OLMo 3: sliding layers keep plain RoPE of the same θ.
            Self::Olmo3 if sliding => {
                let mut d = entry(&[("rope_type", "default".into())]);
                for key in ["rope_theta", "partial_rotary_factor"] {
                    if let Some(v) = flat.get(key) {
                        d.insert(key.to_string(), v.clone());
                    }
                }
                d
            }
            _ => flat,
        })
    }

    /// The θ a layer type falls back on when neither its dict nor the config gives one.
    pub(super) fn default_theta(self, ty: &str) -> Option<f64> {
        match (self, ty) {
            (Self::Gemma3, "full_attention") => Some(1_000_000.0),
            _ => None,
        }
    }

    /// The head dim of layer type `ty`.
    pub(super) fn head_dim(self, top: &HfParams, ty: &str) -> Result<usize, RopeError> {
        match (self, ty) {
            (Self::Gemma4, "full_attention") => match top.usize("global_head_dim")? {
                Some(0) => Err(RopeError::invalid("global_head_dim", 0, "a head dim > 0")),
                given => Ok(given.unwrap_or(512)),
            },
            _ => head_dim(top),
        }
    }

    /// Which elements are paired.
    pub(super) fn layout(self) -> RopeLayout {
        match self {
            Self::Llama4 => RopeLayout::Interleaved,
            _ => RopeLayout::Half,
        }
    }

    /// The family's M-RoPE layout and default sections written into a layer type's dict;
    /// a contradicting `mrope_interleaved` is an error.
    pub(super) fn complete_mrope(self, dict: &mut Map<String, Value>) -> Result<(), RopeError> {
        let (interleaved, default_sections): (bool, &[u64]) = match self {
            Self::Qwen2Vl => (false, &[]),
            Self::Qwen3Vl => (true, &[24, 20, 20]),
            Self::Qwen35 => (true, &[11, 11, 10]),
            _ => return Ok(()),
        };
        match dict.get("mrope_interleaved") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(given)) if *given == interleaved => {}
            Some(given) => {
                return Err(RopeError::invalid(
                    "mrope_interleaved",
                    given,
                    format!("{interleaved}: this model family's M-RoPE layout"),
                ))
            }
        }
        dict.insert("mrope_interleaved".into(), interleaved.into());
        if dict.get("mrope_section").is_none_or(Value::is_null) {
            if default_sections.is_empty() {
                return Err(RopeError::missing(
                    "mrope_section",
                    "an M-RoPE model (Qwen2-VL)",
                ));
            }
            dict.insert("mrope_section".into(), default_sections.into());
        }
        Ok(())
    }
}
