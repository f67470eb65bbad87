//! RoPE op speed on Burn 0.22: copy floor, fused forward, forward + backward, tensor ops and
//! burn-nn's `RotaryEncoding`, on every device given, in one run.
//!
//! ```text
//! cargo run --release --example rope_bench -- --devices flex,wgpu
//! cargo run --release --features cuda --example rope_bench -- --devices cuda --shapes gpu --dtypes f32,bf16
//! ```

use burn::tensor::DType;
use burn_rotary_suite::device_choice::started_device;
use burn_rotary_suite::rope_bench::{CPU_SHAPES, GPU_SHAPES, bench, table};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Time burn-rotary's RoPE on Burn 0.22 devices")]
struct Args {
    /// Comma-separated: flex, wgpu, cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex,wgpu")]
    devices: String,
    /// cpu or gpu.
    #[arg(long, default_value = "cpu")]
    shapes: String,
    /// Comma-separated: f32, f16, bf16.
    #[arg(long, default_value = "f32")]
    dtypes: String,
    /// Calls per timed batch.
    #[arg(long, default_value_t = 10)]
    iters: usize,
}

fn dtype(name: &str) -> Result<DType, String> {
    match name {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        other => Err(format!("--dtypes: {other} is not f32, f16 or bf16")),
    }
}

fn main() {
    let args = Args::parse();
    let parsed = (|| -> Result<_, String> {
        let devices: Vec<_> = args
            .devices
            .split(',')
            .map(|n| started_device(n).map(|d| (n, d)))
            .collect::<Result<_, _>>()?;
        let dtypes: Vec<_> = args
            .dtypes
            .split(',')
            .map(dtype)
            .collect::<Result<_, _>>()?;
        let shapes = match args.shapes.as_str() {
            "cpu" => &CPU_SHAPES[..],
            "gpu" => &GPU_SHAPES[..],
            other => return Err(format!("--shapes {other}: expected cpu or gpu")),
        };
        Ok((devices, dtypes, shapes))
    })();
    let (devices, dtypes, shapes) = parsed.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let mut rows = Vec::new();
    for (name, device) in &devices {
        for &dtype in &dtypes {
            for &shape in shapes {
                let row = bench(name, device, shape, dtype, args.iters);
                eprintln!("{name} {} {dtype:?}: {:?}", shape.name, row.times);
                rows.push(row);
            }
        }
    }
    print!("{}", table(&rows));
}
