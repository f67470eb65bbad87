//! The [`Rope`] module.

use std::any::Any;
use std::sync::{Arc, Mutex};

use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Int, Tensor, TensorCreationOptions, TensorData, TensorPrimitive};

use crate::backend::RopeBackend;
use crate::positions::Positions;
use crate::reference;
use crate::spec::{check_same_dtype, AxisOrder, PositionsPrimitive, RopeSpec};
use crate::table::build_table;
use crate::RopeConfig;
use crate::RopeError;
use crate::SeqLenRule;

/// How many length-dependent tables (dynamic NTK) a module keeps.
const CACHED_TABLES: usize = 4;

/// The most recent tables built for a sequence length (dynamic NTK), most recent last, shared
/// by the clones of a module: every layer of a model that calls it at one length builds and
/// uploads the table once. Entries are `Tensor<B, 3>`, type-erased so that the module derive
/// skips the field.
#[derive(Clone, Default)]
struct LengthTables(Arc<Mutex<Vec<LengthTable>>>);

/// A sequence length and its table (a `Tensor<B, 3>`).
type LengthTable = (usize, Box<dyn Any + Send>);

impl core::fmt::Debug for LengthTables {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let lengths: Vec<usize> = cache.iter().map(|(len, _)| *len).collect();
        f.debug_tuple("LengthTables").field(&lengths).finish()
    }
}

/// Rotary position embedding (RoFormer, Su et al. 2021) with HF's context-extension scalings.
///
/// Create it from a [`RopeConfig`]. Each pair `(x1, x2)` of a head at position `p` is rotated by
/// `t = p * inv_freq_i` and scaled by the attention factor `a`:
/// `(a (x1 cos t - x2 sin t), a (x2 cos t + x1 sin t))`. Angles come from `f64` tables, so they
/// stay exact (error < 1e-6 rad) at every position below `max_positions`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn::tensor::{Distribution, Tensor};
/// use burn_rotary::prelude::*;
///
/// let device = Default::default();
/// let rope = RopeConfig::new(64).init::<NdArray>(&device);
/// let q = Tensor::<NdArray, 4>::random([2, 8, 16, 64], Distribution::Default, &device);
/// let k = Tensor::<NdArray, 4>::random([2, 2, 16, 64], Distribution::Default, &device);
/// let (q, k) = rope.forward_qk(q, k, 0);
/// assert_eq!(q.dims(), [2, 8, 16, 64]);
/// assert_eq!(k.dims(), [2, 2, 16, 64]);
/// ```
///
/// # Saving and loading
///
/// Like every Burn module whose behaviour comes from its config, a `Rope` is rebuilt from its
/// [`RopeConfig`], not from a record: its angle tables are constants, left out of records (a
/// saved model holds no RoPE number). Save the config beside the record and build the model
/// from it before loading the record — loading a record into a model built with another θ or
/// scaling silently gives other outputs. `RopeConfig` is a Burn `Config` (`save` / `load` as
/// JSON); the training example saves its model config, RoPE included, as `model.json` beside
/// `model.mpk` and rebuilds from it on `--resume`.
///
/// ```
/// use burn::backend::NdArray;
/// use burn_rotary::prelude::*;
///
/// let config = RopeConfig::new(64)
///     .with_theta(5e5)
///     .with_scaling(RopeScaling::Linear { factor: 4.0 });
/// let json = serde_json::to_string(&config).unwrap(); // or `config.save(path)`
/// let rebuilt: RopeConfig = serde_json::from_str(&json).unwrap(); // or `RopeConfig::load(path)`
/// assert_eq!(rebuilt.theta, 5e5);
/// let rope = rebuilt.init::<NdArray>(&Default::default());
/// // Printing a model shows the settings, not the tables.
/// assert!(format!("{rope}").contains("theta: 500000"));
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct Rope<B: Backend> {
    /// Angle table of the initial frequencies, `[rows, 2, rotary_dim / 2]` (see [`crate::table`]).
    table: Tensor<B, 3>,
    /// Angle table used beyond a [`SeqLenRule::Switch`] threshold (LongRoPE's long factors).
    long_table: Option<Tensor<B, 3>>,
    /// The coordinate axis of each frequency pair, `[rotary_dim / 2]`, when there are several
    /// (see [`RopeConfig::position_axes`]).
    pair_axes: Option<Tensor<B, 1, Int>>,
    #[module(skip)]
    config: RopeConfig,
    /// Tables of the lengths past a [`SeqLenRule::Continuous`] threshold, most recent last.
    #[module(skip)]
    length_tables: LengthTables,
    /// Run the plain tensor-op path instead of the backend's own (see [`Rope::with_tensor_ops`]).
    #[module(skip)]
    tensor_ops: bool,
}

/// Builds a [`Rope`] from its [`RopeConfig`]. The config lives in the Burn-free core crate
/// (shared with the Burn 0.22 line), so its `init` comes with this trait: bring it in scope with
/// `use burn_rotary::prelude::*;` (or `use burn_rotary::RopeConfigExt;`).
///
/// ```
/// use burn::backend::NdArray;
/// use burn_rotary::prelude::*;
///
/// let rope = RopeConfig::new(64).init::<NdArray>(&Default::default());
/// assert_eq!(rope.config().head_dim, 64);
/// let err = RopeConfig::new(63).try_init::<NdArray>(&Default::default()).unwrap_err();
/// assert!(err.to_string().contains("head_dim"));
/// ```
pub trait RopeConfigExt: crate::sealed::Sealed {
    /// Creates the module, or says which field is wrong.
    fn try_init<B: Backend>(&self, device: &B::Device) -> Result<Rope<B>, RopeError>;

    /// Creates the module.
    ///
    /// # Panics
    /// If the config is invalid; [`RopeConfigExt::try_init`] returns the error instead.
    fn init<B: Backend>(&self, device: &B::Device) -> Rope<B> {
        self.try_init(device)
            .unwrap_or_else(|e| panic!("RopeConfig::init: {e}"))
    }
}

impl RopeConfigExt for RopeConfig {
    fn try_init<B: Backend>(&self, device: &B::Device) -> Result<Rope<B>, RopeError> {
        self.validate()?;
        let long_table = match self.scaling.seq_len_rule(self.max_position_embeddings) {
            SeqLenRule::Switch { threshold } if self.inv_freq.is_none() => {
                Some(table(self, Some(threshold + 1), device))
            }
            _ => None,
        };
        let pair_axes = (self.axes() > 1).then(|| {
            let axes: Vec<i64> = self
                .pair_axes()
                .expect("validated")
                .iter()
                .map(|&a| a as i64)
                .collect();
            let n = axes.len();
            Tensor::from_data(TensorData::new(axes, [n]), device)
        });
        Ok(Rope {
            table: table(self, None, device),
            long_table,
            pair_axes,
            config: self.clone(),
            length_tables: Default::default(),
            tensor_ops: false,
        })
    }
}

/// The angle table of `config` at `seq_len` (for the length-dependent scalings), on `device`.
fn table<B: Backend>(
    config: &RopeConfig,
    seq_len: Option<usize>,
    device: &B::Device,
) -> Tensor<B, 3> {
    let freqs = config.frequencies(seq_len);
    let data = build_table(
        &freqs.inv_freq,
        freqs.attention_factor,
        config.max_positions,
    );
    Tensor::from_data(
        data,
        TensorCreationOptions::new(device.clone()).with_dtype(DType::F32),
    )
}

impl<B: RopeBackend> Rope<B> {
    /// The config this module was built from.
    pub fn config(&self) -> &RopeConfig {
        &self.config
    }

    /// With `true`, runs the plain tensor-op path ([`crate::reference`]) instead of the
    /// backend's fast path (a fused kernel, the NdArray loop): the oracle, for tests and
    /// debugging. Under `Autodiff`, its gradients then come from Burn's own autodiff.
    pub fn with_tensor_ops(mut self, tensor_ops: bool) -> Self {
        self.tensor_ops = tensor_ops;
        self
    }

    /// Applies RoPE to one tensor at positions `offset..offset + seq`.
    ///
    /// # Arguments
    /// - `x`: queries or keys, of any rank ≥ 2: the last two axes are `[seq, head_dim]`, the
    ///   axes before them (batch, heads) all share the positions — as burn-nn's
    ///   `RotaryEncoding::apply` takes them.
    /// - `offset`: position of the first row (the KV-cache length when decoding).
    ///
    /// # Shapes
    /// - x: `[batch, heads, seq, head_dim]`, `[batch, seq, head_dim]`, `[seq, head_dim]`, ...
    /// - output: same as `x`
    ///
    /// # Panics
    /// If `x` has rank < 2, its last axis is not `head_dim`, or `offset + seq > max_positions`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>, offset: usize) -> Tensor<B, D> {
        let dims = x.dims();
        assert!(
            D >= 2,
            "Rope::forward: expected [.., seq, head_dim], got shape {dims:?}"
        );
        let positions = Positions::offset(offset);
        if D == 4 {
            // Already [batch, heads, seq, head_dim]: no reshape (which could copy a strided view).
            let x = Tensor::<B, 4>::from_primitive(x.into_primitive());
            let out = self.apply(x, &positions, AxisOrder::Bhsd);
            return Tensor::from_primitive(out.into_primitive());
        }
        let rows = dims[..D - 2].iter().product();
        let x = x.reshape([rows, 1, dims[D - 2], dims[D - 1]]);
        self.apply(x, &positions, AxisOrder::Bhsd).reshape(dims)
    }

    /// Applies RoPE to queries and keys at positions `offset..offset + seq`, in one call
    /// (one kernel launch on fused backends).
    ///
    /// # Shapes
    /// - q: `[batch, q_heads, seq, head_dim]`
    /// - k: `[batch, k_heads, seq, head_dim]` (`k_heads` may differ: GQA/MQA)
    /// - output: the shapes of q and k
    ///
    /// # Panics
    /// If q and k disagree in batch, seq or head_dim, or see [`Rope::forward`].
    pub fn forward_qk(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        offset: usize,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        self.apply_qk(q, k, &Positions::offset(offset), AxisOrder::Bhsd)
    }

    /// Applies RoPE to one tensor at the given positions and axis order.
    ///
    /// # Shapes
    /// - x: `[batch, heads, seq, head_dim]` ([`AxisOrder::Bhsd`]) or
    ///   `[batch, seq, heads, head_dim]` ([`AxisOrder::Bshd`])
    /// - output: same as `x`
    ///
    /// # Panics
    /// On a shape mismatch of `x` or of the position tensors, or positions past `max_positions`.
    pub fn apply(
        &self,
        x: Tensor<B, 4>,
        positions: &Positions<B>,
        axes: AxisOrder,
    ) -> Tensor<B, 4> {
        self.rotate(x, positions, axes, false)
    }

    /// The inverse (transpose) rotation of [`Rope::apply`], divided by nothing: with an
    /// attention factor `a`, `apply_inverse(apply(x)) = a^2 x`.
    pub fn apply_inverse(
        &self,
        x: Tensor<B, 4>,
        positions: &Positions<B>,
        axes: AxisOrder,
    ) -> Tensor<B, 4> {
        self.rotate(x, positions, axes, true)
    }

    /// Applies RoPE to queries and keys at the given positions and axis order.
    ///
    /// # Shapes
    /// - q: `[batch, q_heads, seq, head_dim]` or `[batch, seq, q_heads, head_dim]`
    /// - k: the same with `k_heads`
    ///
    /// # Panics
    /// See [`Rope::forward_qk`] and [`Rope::apply`].
    pub fn apply_qk(
        &self,
        q: Tensor<B, 4>,
        k: Tensor<B, 4>,
        positions: &Positions<B>,
        axes: AxisOrder,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let op = "Rope::apply_qk";
        let (qb, _, qs, qd) = axes.split(q.dims());
        let (kb, _, ks, kd) = axes.split(k.dims());
        assert!(
            (qb, qs, qd) == (kb, ks, kd),
            "{op}: q and k must share batch, seq and head_dim, got q {:?} and k {:?} ({axes:?})",
            q.dims(),
            k.dims()
        );
        let heads = |t: &Tensor<B, 4>| axes.split(t.dims()).1;
        if heads(&q) == 0 || heads(&k) == 0 {
            // One of them is empty: rotate the other alone.
            let q = self.rotate(q, positions, axes, false);
            return (q, self.rotate(k, positions, axes, false));
        }
        check_same_dtype(op, q.dtype(), k.dtype());
        let Some((table, primitive, spec)) = self.prepare(op, q.dims(), positions, axes, false)
        else {
            return (q, k);
        };
        let table = table.into_primitive().tensor();
        let (q, k) = (q.into_primitive().tensor(), k.into_primitive().tensor());
        let (q, k) = if self.tensor_ops {
            let q = reference::rope::<B>(q, table.clone(), primitive.clone(), spec);
            (q, reference::rope::<B>(k, table, primitive, spec))
        } else {
            B::rope_qk(q, k, table, primitive, spec)
        };
        (
            Tensor::from_primitive(TensorPrimitive::Float(q)),
            Tensor::from_primitive(TensorPrimitive::Float(k)),
        )
    }

    fn rotate(
        &self,
        x: Tensor<B, 4>,
        positions: &Positions<B>,
        axes: AxisOrder,
        inverse: bool,
    ) -> Tensor<B, 4> {
        let Some((table, primitive, spec)) =
            self.prepare("Rope::apply", x.dims(), positions, axes, inverse)
        else {
            return x;
        };
        let (x, table) = (x.into_primitive().tensor(), table.into_primitive().tensor());
        let out = if self.tensor_ops {
            reference::rope::<B>(x, table, primitive, spec)
        } else {
            B::rope(x, table, primitive, spec)
        };
        Tensor::from_primitive(TensorPrimitive::Float(out))
    }

    /// Checks shapes and picks the table; `None` when there is nothing to rotate.
    fn prepare(
        &self,
        op: &str,
        dims: [usize; 4],
        positions: &Positions<B>,
        axes: AxisOrder,
        inverse: bool,
    ) -> Option<(Tensor<B, 3>, PositionsPrimitive<B>, RopeSpec)> {
        let (batch, heads, seq, head_dim) = axes.split(dims);
        assert!(
            head_dim == self.config.head_dim,
            "{op}: expected head_dim {} on the last axis, got shape {dims:?} ({axes:?})",
            self.config.head_dim
        );
        positions.check(
            op,
            [batch, seq],
            self.config.axes(),
            self.config.max_positions,
        );
        if batch == 0 || heads == 0 || seq == 0 {
            return None;
        }
        let spec = RopeSpec {
            layout: self.config.layout,
            rotary_dim: self.config.rotary_dim(),
            axes,
            inverse,
            max_positions: self.config.max_positions,
        };
        let primitive = positions.primitive(self.pair_axes.as_ref());
        Some((self.table_for(positions, seq), primitive, spec))
    }

    /// The table of the frequencies in force for these positions.
    fn table_for(&self, positions: &Positions<B>, seq: usize) -> Tensor<B, 3> {
        if self.config.inv_freq.is_some() {
            return self.table.clone();
        }
        match self
            .config
            .scaling
            .seq_len_rule(self.config.max_position_embeddings)
        {
            SeqLenRule::Static => self.table.clone(),
            SeqLenRule::Switch { threshold } => {
                match (&self.long_table, positions.seq_len(seq) > threshold) {
                    (Some(long), true) => long.clone(),
                    _ => self.table.clone(),
                }
            }
            SeqLenRule::Continuous { threshold } => {
                let len = positions.seq_len(seq);
                if len > threshold {
                    self.length_table(len)
                } else {
                    self.table.clone()
                }
            }
        }
    }

    /// The table of the frequencies at sequence length `len`, from the cache or built (and
    /// cached) on this module's device.
    fn length_table(&self, len: usize) -> Tensor<B, 3> {
        let device = self.table.device();
        let mut cache = self
            .length_tables
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let hit = cache.iter().position(|(l, t)| {
            *l == len
                && t.downcast_ref::<Tensor<B, 3>>()
                    .is_some_and(|t| t.device() == device)
        });
        if let Some(i) = hit {
            let entry = cache.remove(i);
            let table = entry.1.downcast_ref::<Tensor<B, 3>>().cloned();
            cache.push(entry);
            return table.expect("checked above");
        }
        let table = table(&self.config, Some(len), &device);
        if cache.len() == CACHED_TABLES {
            cache.remove(0);
        }
        cache.push((len, Box::new(table.clone())));
        table
    }
}

/// Prints the settings (head and rotary dims, θ, layout, scaling, axes), not the angle tables.
impl<B: Backend> ModuleDisplay for Rope<B> {
    fn custom_settings(&self) -> Option<DisplaySettings> {
        DisplaySettings::new()
            .with_new_line_after_attribute(false)
            .optional()
    }

    fn custom_content(&self, content: Content) -> Option<Content> {
        let c = &self.config;
        let content = content
            .add("head_dim", &c.head_dim)
            .add("rotary_dim", &c.rotary_dim())
            .add("theta", &c.theta)
            .add("layout", &format!("{:?}", c.layout))
            .add("scaling", c.scaling.rope_type())
            .add("max_positions", &c.max_positions);
        let content = if c.axes() > 1 {
            content.add("axes", &c.axes())
        } else {
            content
        };
        content.optional()
    }
}
