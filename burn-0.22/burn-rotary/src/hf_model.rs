//! [`ModelRope`]: the RoPE modules of every decoder layer of a HuggingFace model, built from its
//! [`ModelRopeConfig`] (read from `config.json` by the core crate).

use burn::module::Module;
use burn::tensor::Device;
use burn_rotary_core::internal::layer_at;

use crate::module::{Rope, RopeConfigExt};
use crate::{LayerRope, ModelRopeConfig, RopeError};

/// Builds a [`ModelRope`] from its [`ModelRopeConfig`] (the config lives in the Burn-free core
/// crate, so its `init` comes with this trait: `use burn_rotary::prelude::*;`).
///
/// ```
/// use burn::tensor::Device;
/// use burn_rotary::prelude::*;
///
/// // Gemma 3 (transformers v4 form): 5 sliding layers (θ = 10⁴) then one global (θ = 10⁶, ×8).
/// let gemma = ModelRopeConfig::from_hf_str(r#"{
///     "model_type": "gemma3_text", "num_hidden_layers": 12, "head_dim": 256,
///     "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "sliding_window_pattern": 6,
///     "rope_scaling": {"rope_type": "linear", "factor": 8.0}
/// }"#).unwrap();
/// let ropes = gemma.init(&Device::flex());
/// assert_eq!(ropes.modules().len(), 2); // one table per distinct setting, not per layer
/// ```
pub trait ModelRopeConfigExt: crate::sealed::Sealed {
    /// Builds one module per distinct setting, or says which field is wrong.
    fn try_init(&self, device: &Device) -> Result<ModelRope, RopeError>;

    /// Builds one module per distinct setting.
    ///
    /// # Panics
    /// If a setting is invalid; [`ModelRopeConfigExt::try_init`] returns the error instead.
    fn init(&self, device: &Device) -> ModelRope {
        self.try_init(device)
            .unwrap_or_else(|e| panic!("ModelRopeConfig::init: {e}"))
    }
}

impl ModelRopeConfigExt for ModelRopeConfig {
    fn try_init(&self, device: &Device) -> Result<ModelRope, RopeError> {
        let ropes = self
            .settings()
            .iter()
            .map(|s| s.try_init(device))
            .collect::<Result<_, _>>()?;
        Ok(ModelRope {
            ropes,
            layers: self.layers().to_vec(),
        })
    }
}

/// The RoPE modules of a model: one [`Rope`] per distinct setting, shared by its layers.
///
/// ```
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_rotary::prelude::*;
/// use burn_rotary::{MropePositions, MropeSpan, VisionGrid};
///
/// // Qwen2-VL: M-RoPE, its frequency pairs split 16 / 24 / 24 between time, height and width.
/// let qwen = ModelRopeConfig::from_hf_str(r#"{"model_type": "qwen2_vl", "hidden_size": 3584,
///     "num_attention_heads": 28, "num_hidden_layers": 4, "rope_theta": 1000000.0,
///     "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}}"#).unwrap();
/// let device = Device::flex();
/// let ropes = qwen.init(&device);
/// let rope = ropes.layer(0).unwrap().unwrap();
/// // Three text tokens, a 2 x 3 image, two text tokens: [3, 1, 11] position ids.
/// let ids = MropePositions::build(&[
///     MropeSpan::Text(3),
///     MropeSpan::Grid(VisionGrid::image(2, 3)),
///     MropeSpan::Text(2),
/// ]);
/// let positions = Positions::axes_from_slice(&ids.ids, [3, 1, ids.seq_len], &device);
/// let q = Tensor::<4>::random([1, 28, 11, 128], Distribution::Default, &device);
/// let k = Tensor::<4>::random([1, 4, 11, 128], Distribution::Default, &device);
/// let (q, k) = rope.apply_qk(q, k, &positions, AxisOrder::Bhsd);
/// assert_eq!(k.dims(), [1, 4, 11, 128]);
/// ```
#[derive(Module, Debug)]
pub struct ModelRope {
    ropes: Vec<Rope>,
    #[module(skip)]
    layers: Vec<LayerRope>,
}

impl ModelRope {
    /// The module of layer `layer`: `None` for a layer without RoPE, whose q and k stay as they
    /// are; an error for an index out of range.
    pub fn layer(&self, layer: usize) -> Result<Option<&Rope>, RopeError> {
        Ok(match layer_at(&self.layers, layer)? {
            LayerRope::Setting(i) => Some(&self.ropes[i]),
            LayerRope::NoRope => None,
        })
    }

    /// The distinct modules, in the order of [`ModelRopeConfig::settings`].
    pub fn modules(&self) -> &[Rope] {
        &self.ropes
    }

    /// The number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}
