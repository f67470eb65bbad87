//! The op benchmark: times `burn-rotary`'s RoPE against a plain copy of the same bytes and
//! Burn 0.21's built-in `RotaryEncoding`.
//!
//! ```text
//! cargo run --release --example rope_bench -- --backend ndarray            # CPU shapes, f32
//! cargo run --release --example rope_bench -- --backend wgpu
//! cargo run --release --example rope_bench --features cuda -- --backend cuda  # GPU shapes, f32/bf16/f16
//! ```
//!
//! Flags: `--shapes cpu|gpu|all` or shape names (`prefill,gqa`), `--dtype f32|f16|bf16|all` or a
//! list (`f32,bf16`), `--iters N`, `--live-gib N`, `--glibc-malloc`. The kernel's launch shape can be swept with
//! `BURN_ROTARY_HEADS_PER_UNIT` and `BURN_ROTARY_PLANES_PER_CUBE` (printed in the header).
//!
//! Per shape and dtype it prints the time per call (the best of at least three batches of
//! `--iters` calls) and GB/s of the minimal bytes (read + write of q and k; twice that for
//! forward+backward). `ms` is the **device time** of the launches on `--backend wgpu-kernel` and
//! `cuda-kernel` (the CubeCL backends without fusion: the same kernel, timed by CubeCL's
//! profiler), and the wall clock to the end of the device sync elsewhere (on the CPU that is
//! the device's time; see `clock.rs` for why fused backends cannot be profiled); `wall ms` is
//! always printed beside it.
//! - `copy`: `-x` of q and k, the practical floor (an element-wise read and write);
//! - `rope fwd`: `Rope::forward_qk` (one launch for q and k on CubeCL backends);
//! - `rope f+b`: the forward and the backward op (the transpose rotation of a gradient, which
//!   is what `Autodiff` runs);
//! - `bwd strided`: the backward op on a gradient whose head dim is not contiguous (the
//!   transpose of a `[b, h, d, s]` tensor, what an attention backward hands over for dK);
//! - `tensor ops`: the same module forced onto the plain tensor-op path;
//! - `builtin`: `burn::nn::RotaryEncoding` applied to q and to k;
//!
//! with `% copy` and the speed-up of `rope fwd` over `builtin`. Decode shapes also report the
//! µs of one call synchronised on its own (device and wall).
//! The last line is `min speedup vs burn RotaryEncoding: X.Yx` over the shapes run (of the
//! `ms` column: device time on the `-kernel` backends, which leaves out the built-in's host
//! work between its many small launches).
//!
//! Outputs of a batch stay alive until its sync (with fusion, an unused output may never be
//! computed), so `--iters` is capped per shape to keep them within `--live-gib` GiB (default
//! [`LIVE_OUTPUT_BYTES`]; more calls per batch spread the batch's fixed cost thinner).
//!
//! On Linux with glibc the process keeps the memory it frees (larger malloc thresholds), so a
//! row measures its op and not the OS: by default glibc gives large freed blocks back, and
//! every new output then pays one page fault per 4 KiB, which on a small machine costs
//! several times a RoPE pass (and as much as the `copy` row itself). `--glibc-malloc` keeps
//! glibc's defaults to see that cost.

mod clock;

use std::time::Instant;

use crate::backend_choice::{probe, run_on, BackendTask};
use burn::nn::RotaryEncodingConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor};
use burn_rotary::RopeConfigExt;
use burn_rotary::{AxisOrder, Positions, RopeBackend, RopeConfig};
use clock::{Clock, Timing};

/// One benchmark shape: q, and k (GQA when its head count differs).
#[derive(Debug)]
struct Shape {
    name: &'static str,
    q: [usize; 4],
    k: [usize; 4],
    decode: bool,
}

const CPU_SHAPES: [Shape; 3] = [
    Shape {
        name: "small",
        q: [1, 8, 512, 64],
        k: [1, 8, 512, 64],
        decode: false,
    },
    Shape {
        name: "medium",
        q: [4, 8, 1024, 64],
        k: [4, 8, 1024, 64],
        decode: false,
    },
    Shape {
        name: "large",
        q: [1, 32, 2048, 128],
        k: [1, 32, 2048, 128],
        decode: false,
    },
];

const GPU_SHAPES: [Shape; 4] = [
    Shape {
        name: "prefill",
        q: [8, 32, 4096, 128],
        k: [8, 32, 4096, 128],
        decode: false,
    },
    Shape {
        name: "long",
        q: [1, 32, 32768, 128],
        k: [1, 32, 32768, 128],
        decode: false,
    },
    Shape {
        name: "gqa",
        q: [16, 32, 2048, 64],
        k: [16, 8, 2048, 64],
        decode: false,
    },
    Shape {
        name: "decode",
        q: [64, 32, 1, 128],
        k: [64, 8, 1, 128],
        decode: true,
    },
];

struct Bench {
    shapes: Vec<&'static Shape>,
    dtypes: Vec<DType>,
    iters: usize,
    /// The most bytes of outputs a batch keeps alive.
    live_bytes: usize,
    /// The backend's name, for its [`Clock`].
    backend: String,
}

impl Shape {
    /// The bytes of q and k.
    fn bytes(&self, dtype: DType) -> usize {
        let count = |dims: [usize; 4]| dims.iter().product::<usize>();
        (count(self.q) + count(self.k)) * dtype.size()
    }
}

/// Batches per measurement, at least.
const MIN_BATCHES: usize = 3;
/// Seconds per measurement under which more batches are run.
const BUDGET_S: f64 = 0.5;
/// The most bytes of outputs a batch keeps alive until its sync by default (`--iters` is
/// capped to it; the forward+backward rows keep the most: 2x the outputs of q and k per call).
pub const LIVE_OUTPUT_BYTES: usize = 4 << 30;

/// Times one batch of `iters` calls. Outputs stay alive until after the device sync (with
/// fusion, an unused output may never run).
fn batch<B: Backend, T: Send>(
    clock: &Clock,
    device: &B::Device,
    iters: usize,
    f: &mut (impl FnMut() -> T + Send),
) -> Timing {
    clock.time(iters, || {
        let mut keep = Vec::with_capacity(iters);
        for _ in 0..iters {
            keep.push(f());
        }
        B::sync(device).unwrap();
        drop(keep);
    })
}

/// Per-call time of `f`: after two warm-up calls, the best batch of `iters` calls out of at
/// least [`MIN_BATCHES`] (more while the measurement is under [`BUDGET_S`]), which filters out
/// the noise of other processes.
fn time<B: Backend, T: Send>(
    clock: &Clock,
    device: &B::Device,
    iters: usize,
    mut f: impl FnMut() -> T + Send,
) -> Timing {
    batch::<B, T>(clock, device, 2, &mut f);
    let start = Instant::now();
    let mut best: Option<Timing> = None;
    let mut batches = 0;
    while batches < MIN_BATCHES || start.elapsed().as_secs_f64() < BUDGET_S {
        let timing = batch::<B, T>(clock, device, iters, &mut f);
        if best.is_none_or(|b| timing.ms() < b.ms()) {
            best = Some(timing);
        }
        batches += 1;
    }
    best.expect("at least one batch")
}

/// Mean per-call time of `iters` calls, each synchronised on its own (latency).
fn latency<B: Backend, T: Send>(
    clock: &Clock,
    device: &B::Device,
    iters: usize,
    mut f: impl FnMut() -> T + Send,
) -> Timing {
    batch::<B, T>(clock, device, 2, &mut f);
    let calls: Vec<Timing> = (0..iters)
        .map(|_| batch::<B, T>(clock, device, 1, &mut f))
        .collect();
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len() as f64;
    Timing {
        wall_ms: mean(calls.iter().map(|t| t.wall_ms).collect()),
        device_ms: calls
            .iter()
            .map(|t| t.device_ms)
            .collect::<Option<Vec<f64>>>()
            .map(mean),
    }
}

impl BackendTask for Bench {
    type Output = Option<f64>;

    fn run<B: RopeBackend>(self, device: B::Device) -> Option<f64> {
        let clock = Clock::for_backend(&self.backend);
        println!(
            "backend {}, best of >= {MIN_BATCHES} batches of up to {} calls per measurement; {}",
            B::name(&device),
            self.iters,
            clock.describe()
        );
        for knob in ["BURN_ROTARY_HEADS_PER_UNIT", "BURN_ROTARY_PLANES_PER_CUBE"] {
            if let Ok(value) = std::env::var(knob) {
                // The launcher ignores what is not a positive integer: say so here.
                let valid = value.trim().parse::<usize>().is_ok_and(|n| n > 0);
                let note = if valid {
                    ""
                } else {
                    " (ignored: not a positive integer)"
                };
                println!("launch override: {knob}={value}{note}");
            }
        }
        println!(
            "{:<8} {:<5} {:<11} {:>9} {:>9} {:>9} {:>7} {:>9}",
            "shape", "dtype", "impl", "ms", "wall ms", "GB/s", "%copy", "speedup"
        );
        let mut min_speedup: Option<f64> = None;
        for shape in &self.shapes {
            for &dtype in &self.dtypes {
                if !B::supports_dtype(&device, dtype) {
                    println!(
                        "{:<8} {:<5} (not supported by this backend)",
                        shape.name,
                        format!("{dtype:?}")
                    );
                    continue;
                }
                let iters = self
                    .iters
                    .min((self.live_bytes / (2 * shape.bytes(dtype))).max(1));
                let speedup = bench_shape::<B>(shape, dtype, iters, &clock, &device);
                min_speedup = Some(min_speedup.map_or(speedup, |m| m.min(speedup)));
            }
        }
        min_speedup
    }
}

fn bench_shape<B: RopeBackend>(
    shape: &Shape,
    dtype: DType,
    iters: usize,
    clock: &Clock,
    device: &B::Device,
) -> f64 {
    let [batch, heads, seq, head_dim] = shape.q;
    let random = |dims| Tensor::<B, 4>::random(dims, Distribution::Default, device).cast(dtype);
    let (q, k) = (random(shape.q), random(shape.k));
    let bytes = shape.bytes(dtype);
    // A gradient for q with a strided head dim: the transpose of a [b, h, d, s] tensor.
    let strided_grad = random([batch, heads, head_dim, seq]).swap_dims(2, 3);

    let rope = RopeConfig::new(head_dim).init::<B>(device);
    let tensor_ops = RopeConfig::new(head_dim)
        .init::<B>(device)
        .with_tensor_ops(true);
    let offset = if shape.decode { 4093 } else { 0 };
    let positions = if shape.decode {
        // Random positions per sequence, known on the host (no device read per call).
        let offsets: Vec<usize> = (0..batch).map(|b| (b * 7919) % 32_000).collect();
        Positions::offsets_from_slice(&offsets, device)
    } else {
        Positions::offset(offset)
    };
    let builtin = RotaryEncodingConfig::new(offset + seq, head_dim).init::<B>(device);

    let fwd = || rope.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd);
    let back = |x| rope.apply_inverse(x, &positions, AxisOrder::Bhsd);
    let copy = time::<B, _>(clock, device, iters, || (q.clone().neg(), k.clone().neg()));
    let q_bytes = 2 * q.shape().num_elements() * dtype.size(); // read + write
    let mut rows = vec![
        ("copy", copy, bytes),
        ("rope fwd", time::<B, _>(clock, device, iters, fwd), bytes),
        (
            "rope f+b",
            time::<B, _>(clock, device, iters, || {
                let (qo, ko) = fwd();
                (back(qo), back(ko))
            }),
            2 * bytes,
        ),
        (
            "bwd strided",
            time::<B, _>(clock, device, iters, || back(strided_grad.clone())),
            q_bytes,
        ),
        (
            "tensor ops",
            time::<B, _>(clock, device, iters, || {
                tensor_ops.apply_qk(q.clone(), k.clone(), &positions, AxisOrder::Bhsd)
            }),
            bytes,
        ),
    ];
    // The built-in mixes its own f32 table with the input: it may refuse other dtypes.
    let builtin_time = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        time::<B, _>(clock, device, iters, || {
            (
                builtin.apply(q.clone(), offset),
                builtin.apply(k.clone(), offset),
            )
        })
    }))
    .ok();
    if let Some(t) = builtin_time {
        rows.push(("builtin", t, bytes));
    }

    let fused_ms = rows[1].1.ms();
    let builtin_ms = builtin_time.as_ref().map(Timing::ms);
    let copy_gbps = bytes as f64 / (copy.ms() * 1e-3) / 1e9;
    for (name, timing, bytes) in &rows {
        let ms = timing.ms();
        let gbps = *bytes as f64 / (ms * 1e-3) / 1e9;
        let speedup = match (*name, builtin_ms) {
            ("rope fwd", Some(b)) => format!("{:.1}x", b / fused_ms),
            _ => String::new(),
        };
        println!(
            "{:<8} {:<5} {:<11} {:>9.3} {:>9.3} {:>9.1} {:>6.0}% {:>9}",
            shape.name,
            format!("{dtype:?}").to_lowercase(),
            name,
            ms,
            timing.wall_ms,
            gbps,
            100.0 * gbps / copy_gbps,
            speedup
        );
    }
    if shape.decode {
        let one = latency::<B, _>(clock, device, iters, fwd);
        let device_us = one
            .device_ms
            .map_or("-".to_string(), |ms| format!("{:.1}", ms * 1e3));
        println!(
            "{:<8} {:<5} {:<11} {device_us} µs profiled, {:.1} µs wall, per call synchronised on its own",
            shape.name,
            "",
            "decode",
            one.wall_ms * 1e3
        );
    }
    builtin_ms.map_or(f64::INFINITY, |b| b / fused_ms)
}

/// Shapes picked on the command line, each once.
#[derive(Debug, Clone)]
struct ShapeList(Vec<&'static Shape>);

/// Storage dtypes picked on the command line, each once.
#[derive(Debug, Clone)]
struct DtypeList(Vec<DType>);

/// A comma list of shape sets (`cpu`, `gpu`, `all`) and shape names.
fn shape_list(list: &str) -> Result<ShapeList, String> {
    let mut picked: Vec<&'static Shape> = Vec::new();
    for name in list.split(',') {
        let set: Vec<&'static Shape> = match name {
            "cpu" => CPU_SHAPES.iter().collect(),
            "gpu" => GPU_SHAPES.iter().collect(),
            "all" => CPU_SHAPES.iter().chain(GPU_SHAPES.iter()).collect(),
            _ => CPU_SHAPES
                .iter()
                .chain(GPU_SHAPES.iter())
                .filter(|s| s.name == name)
                .collect(),
        };
        if set.is_empty() {
            return Err(format!("unknown shape or shape set `{name}`"));
        }
        for shape in set {
            if !picked.iter().any(|p| p.name == shape.name) {
                picked.push(shape);
            }
        }
    }
    Ok(ShapeList(picked))
}

/// A comma list of dtypes (`f32`, `f16`, `bf16`, `all`).
fn dtype_list(list: &str) -> Result<DtypeList, String> {
    let mut dtypes = Vec::new();
    for name in list.split(',') {
        let set = match name {
            "f32" => vec![DType::F32],
            "f16" => vec![DType::F16],
            "bf16" => vec![DType::BF16],
            "all" => vec![DType::F32, DType::BF16, DType::F16],
            other => return Err(format!("unknown dtype `{other}`")),
        };
        for d in set {
            if !dtypes.contains(&d) {
                dtypes.push(d);
            }
        }
    }
    Ok(DtypeList(dtypes))
}

/// `rope_bench`'s flags.
#[derive(clap::Parser, Debug)]
#[command(
    name = "rope_bench",
    about = "Times burn-rotary's RoPE against a copy of the same bytes and Burn's RotaryEncoding"
)]
struct Cli {
    /// Backend: ndarray, wgpu, cuda, or wgpu-kernel / cuda-kernel (no fusion: device-timed).
    #[arg(long, default_value = "ndarray", value_parser = crate::cli::backend)]
    backend: String,
    /// Shape sets (cpu, gpu, all) or shape names (prefill,gqa), comma-separated
    /// [default: gpu on cuda, else cpu].
    #[arg(long, value_parser = shape_list)]
    shapes: Option<ShapeList>,
    /// Storage dtypes (f32, f16, bf16, all), comma-separated [default: all on cuda, else f32].
    #[arg(long, value_parser = dtype_list)]
    dtype: Option<DtypeList>,
    /// Calls per batch [default: 50 on cuda, else 5].
    #[arg(long, value_parser = crate::cli::at_least_1)]
    iters: Option<usize>,
    /// GiB of outputs a batch may keep alive until its sync (caps --iters per shape).
    #[arg(long, default_value_t = LIVE_OUTPUT_BYTES >> 30, value_parser = crate::cli::at_least_1)]
    live_gib: usize,
    /// Keep glibc's malloc thresholds (rows that allocate then include page faults).
    #[arg(long)]
    glibc_malloc: bool,
}

/// Runs the benchmark with command-line style arguments (without the program name) and
/// prints its table; `--help` prints the flags.
///
/// # Errors
/// An unknown flag or value (one line naming it), or a backend this build lacks.
pub fn run(args: impl IntoIterator<Item = String>) -> Result<(), String> {
    // Only this line is generic: the benchmark itself is instantiated here, in the library,
    // once, not in every binary that calls it (an example's build stays short).
    run_args(args.into_iter().collect())
}

fn run_args(args: Vec<String>) -> Result<(), String> {
    let args = std::iter::once("rope_bench".to_string()).chain(args);
    let Cli {
        backend,
        shapes,
        dtype,
        iters,
        live_gib,
        glibc_malloc,
    } = match crate::cli::parse(args) {
        Ok(cli) => cli,
        Err(crate::cli::CliExit::Help(text)) => {
            print!("{text}");
            return Ok(());
        }
        Err(crate::cli::CliExit::Error(line)) => return Err(line),
    };
    let (retain_memory, live_bytes) = (!glibc_malloc, live_gib << 30);
    let gpu = backend.starts_with("cuda");
    // The defaults are valid lists.
    let ShapeList(shapes) = shapes
        .unwrap_or_else(|| shape_list(if gpu { "gpu" } else { "cpu" }).expect("valid default"));
    let DtypeList(dtypes) = dtype
        .unwrap_or_else(|| dtype_list(if gpu { "all" } else { "f32" }).expect("valid default"));
    let iters = iters.unwrap_or(if gpu { 50 } else { 5 });
    probe(&backend)?;
    if retain_memory {
        println!("{}", retain_freed_memory());
    }
    match run_on(
        &backend,
        Bench {
            shapes,
            dtypes,
            iters,
            live_bytes,
            backend: backend.clone(),
        },
    )? {
        Some(speedup) => println!("min speedup vs burn RotaryEncoding: {speedup:.1}x"),
        None => println!("min speedup vs burn RotaryEncoding: n/a (no shape ran)"),
    }
    Ok(())
}

/// Raises malloc's thresholds so that freed blocks stay in the process for the next output
/// instead of going back to the OS (and coming back one page fault at a time). Returns what
/// it did, for the report.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn retain_freed_memory() -> &'static str {
    // SAFETY: `mallopt` only changes allocator thresholds; it is called before the timed work.
    let ok = unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30) == 1
            && libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX) == 1
    };
    if ok {
        "malloc keeps freed memory (--glibc-malloc for glibc's defaults)"
    } else {
        "malloc thresholds could not be raised: rows that allocate include page faults"
    }
}

/// Other allocators are left as they are.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn retain_freed_memory() -> &'static str {
    "the system allocator is used as it is"
}
