//! The [`Rope`] module.

use std::sync::{Arc, Mutex};

use burn::module::{Content, DisplaySettings, Module, ModuleDisplay};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

use crate::positions::Positions;
use crate::spec::{AxisOrder, PositionTensors, RopeSpec, check_same_dtype};
use crate::table::build_table;
use crate::{RopeConfig, RopeError, SeqLenRule, ops, reference};

/// How many length-dependent tables (dynamic NTK) a module keeps.
const CACHED_TABLES: usize = 4;

/// The most recent tables built for a sequence length (dynamic NTK), most recent last, shared
/// by the clones of a module: every layer of a model that calls it at one length builds and
/// uploads the table once.
#[derive(Clone, Default)]
struct LengthTables(Arc<Mutex<Vec<(usize, Tensor<3>)>>>);

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
/// use burn::tensor::{Device, Distribution, Tensor};
/// use burn_rotary::prelude::*;
///
/// let device = Device::flex();
/// let rope = RopeConfig::new(64).init(&device);
/// let q = Tensor::<4>::random([2, 8, 16, 64], Distribution::Default, &device);
/// let k = Tensor::<4>::random([2, 2, 16, 64], Distribution::Default, &device);
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
/// the weights (`model.bpk`).
///
/// ```
/// use burn::tensor::Device;
/// use burn_rotary::prelude::*;
///
/// let config = RopeConfig::new(64)
///     .with_theta(5e5)
///     .with_scaling(RopeScaling::Linear { factor: 4.0 });
/// let json = serde_json::to_string(&config).unwrap(); // or `config.save(path)`
/// let rebuilt: RopeConfig = serde_json::from_str(&json).unwrap(); // or `RopeConfig::load(path)`
/// assert_eq!(rebuilt.theta, 5e5);
/// let rope = rebuilt.init(&Device::flex());
/// // Printing a model shows the settings, not the tables.
/// assert!(format!("{rope}").contains("theta: 500000"));
/// ```
#[derive(Module, Debug)]
#[module(custom_display)]
pub struct Rope {
    /// Angle table of the initial frequencies, `[rows, 2, rotary_dim / 2]` (see [`crate::table`]).
    table: Tensor<3>,
    /// Angle table used beyond a [`SeqLenRule::Switch`] threshold (LongRoPE's long factors).
    long_table: Option<Tensor<3>>,
    /// The coordinate axis of each frequency pair, `[rotary_dim / 2]`, when there are several
    /// (see [`RopeConfig::position_axes`]).
    pair_axes: Option<Tensor<1, Int>>,
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
/// use burn::tensor::Device;
/// use burn_rotary::prelude::*;
///
/// let rope = RopeConfig::new(64).init(&Device::flex());
/// assert_eq!(rope.config().head_dim, 64);
/// let err = RopeConfig::new(63).try_init(&Device::flex()).unwrap_err();
/// assert!(err.to_string().contains("head_dim"));
/// ```
pub trait RopeConfigExt: crate::sealed::Sealed {
    /// Creates the module, or says which field is wrong.
    fn try_init(&self, device: &Device) -> Result<Rope, RopeError>;

    /// Creates the module.
    ///
    /// # Panics
    /// If the config is invalid; [`RopeConfigExt::try_init`] returns the error instead.
    fn init(&self, device: &Device) -> Rope {
        self.try_init(device)
            .unwrap_or_else(|e| panic!("RopeConfig::init: {e}"))
    }
}

impl RopeConfigExt for RopeConfig {
    fn try_init(&self, device: &Device) -> Result<Rope, RopeError> {
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
fn table(config: &RopeConfig, seq_len: Option<usize>, device: &Device) -> Tensor<3> {
    let freqs = config.frequencies(seq_len);
    let data = build_table(
        &freqs.inv_freq,
        freqs.attention_factor,
        config.max_positions,
    );
    Tensor::from_data(data, (device, DType::F32))
}

impl Rope {
    /// The config this module was built from.
    pub fn config(&self) -> &RopeConfig {
        &self.config
    }

    /// With `true`, runs the plain tensor-op path ([`crate::reference`]) instead of the
    /// backend's fast path (a fused kernel, the Flex loop): the oracle, for tests and
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
    pub fn forward<const D: usize>(&self, x: Tensor<D>, offset: usize) -> Tensor<D> {
        let dims = x.dims();
        assert!(
            D >= 2,
            "Rope::forward: expected [.., seq, head_dim], got shape {dims:?}"
        );
        let positions = Positions::offset(offset);
        if D == 4 {
            // Already [batch, heads, seq, head_dim]: no reshape (which could copy a strided view).
            let x = Tensor::<4>::from_bridge(x.into_bridge());
            let out = self.apply(x, &positions, AxisOrder::Bhsd);
            return Tensor::from_bridge(out.into_bridge());
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
    pub fn forward_qk(&self, q: Tensor<4>, k: Tensor<4>, offset: usize) -> (Tensor<4>, Tensor<4>) {
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
    pub fn apply(&self, x: Tensor<4>, positions: &Positions, axes: AxisOrder) -> Tensor<4> {
        self.rotate(x, positions, axes, false)
    }

    /// The inverse (transpose) rotation of [`Rope::apply`], divided by nothing: with an
    /// attention factor `a`, `apply_inverse(apply(x)) = a^2 x`.
    pub fn apply_inverse(&self, x: Tensor<4>, positions: &Positions, axes: AxisOrder) -> Tensor<4> {
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
        q: Tensor<4>,
        k: Tensor<4>,
        positions: &Positions,
        axes: AxisOrder,
    ) -> (Tensor<4>, Tensor<4>) {
        let op = "Rope::apply_qk";
        let (qb, _, qs, qd) = axes.split(q.dims());
        let (kb, _, ks, kd) = axes.split(k.dims());
        assert!(
            (qb, qs, qd) == (kb, ks, kd),
            "{op}: q and k must share batch, seq and head_dim, got q {:?} and k {:?} ({axes:?})",
            q.dims(),
            k.dims()
        );
        let heads = |t: &Tensor<4>| axes.split(t.dims()).1;
        if heads(&q) == 0 || heads(&k) == 0 {
            // One of them is empty: rotate the other alone.
            let q = self.rotate(q, positions, axes, false);
            return (q, self.rotate(k, positions, axes, false));
        }
        check_same_dtype(op, q.dtype(), k.dtype());
        let Some((table, positions, spec)) = self.prepare(op, q.dims(), positions, axes, false)
        else {
            return (q, k);
        };
        if !self.tensor_ops && ops::has_fast_path(&q) {
            ops::rope_qk(q, k, table, positions, spec)
        } else {
            let q = reference::rope(q, table.clone(), positions.clone(), spec);
            (q, reference::rope(k, table, positions, spec))
        }
    }

    fn rotate(
        &self,
        x: Tensor<4>,
        positions: &Positions,
        axes: AxisOrder,
        inverse: bool,
    ) -> Tensor<4> {
        let Some((table, positions, spec)) =
            self.prepare("Rope::apply", x.dims(), positions, axes, inverse)
        else {
            return x;
        };
        if !self.tensor_ops && ops::has_fast_path(&x) {
            ops::rope(x, table, positions, spec)
        } else {
            reference::rope(x, table, positions, spec)
        }
    }

    /// Checks shapes and picks the table; `None` when there is nothing to rotate.
    fn prepare(
        &self,
        op: &str,
        dims: [usize; 4],
        positions: &Positions,
        axes: AxisOrder,
        inverse: bool,
    ) -> Option<(Tensor<3>, PositionTensors, RopeSpec)> {
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
        let tensors = positions.tensors(self.pair_axes.as_ref());
        Some((self.table_for(positions, seq), tensors, spec))
    }

    /// The table of the frequencies in force for these positions.
    fn table_for(&self, positions: &Positions, seq: usize) -> Tensor<3> {
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
    fn length_table(&self, len: usize) -> Tensor<3> {
        let device = self.table.device();
        let mut cache = self
            .length_tables
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let hit = cache
            .iter()
            .position(|(l, t)| *l == len && t.device() == device);
        if let Some(i) = hit {
            let entry = cache.remove(i);
            let table = entry.1.clone();
            cache.push(entry);
            return table;
        }
        let table = table(&self.config, Some(len), &device);
        if cache.len() == CACHED_TABLES {
            cache.remove(0);
        }
        cache.push((len, table.clone()));
        table
    }
}

/// Prints the settings (head and rotary dims, θ, layout, scaling, axes), not the angle tables.
impl ModuleDisplay for Rope {
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
