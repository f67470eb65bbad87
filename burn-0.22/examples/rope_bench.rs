//! RoPE op speed on Burn 0.22: copy floor, fused forward, forward + backward, tensor ops and
//! burn-nn's `RotaryEncoding`, on every device given, in one run.
//!
//! ```text
//! cargo run --release --example rope_bench -- --devices flex,wgpu
//! cargo run --release --features cuda --example rope_bench -- --devices cuda --shapes gpu --dtypes f32,bf16
//! ```

use burn::tensor::DType;
use burn_rotary_suite::cli::{at_least_1, device, parse_or_exit, run_main};
use burn_rotary_suite::device_choice::started_device;
use burn_rotary_suite::rope_bench::{CPU_SHAPES, GPU_SHAPES, bench, table};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Time burn-rotary's RoPE on Burn 0.22 devices")]
struct Args {
    /// Comma-separated: flex, wgpu, cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex,wgpu", value_delimiter = ',', value_parser = device)]
    devices: Vec<String>,
    /// cpu or gpu.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "gpu"])]
    shapes: String,
    /// Comma-separated: f32, f16, bf16.
    #[arg(long, default_value = "f32", value_delimiter = ',', value_parser = dtype)]
    dtypes: Vec<DType>,
    /// Calls per timed batch.
    #[arg(long, default_value_t = 10, value_parser = at_least_1)]
    iters: usize,
}

fn dtype(name: &str) -> Result<DType, String> {
    match name {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "bf16" => Ok(DType::BF16),
        _ => Err("not one of f32, f16, bf16".into()),
    }
}

fn main() {
    let args: Args = parse_or_exit();
    run_main("rope_bench", || {
        let shapes = if args.shapes == "gpu" {
            &GPU_SHAPES[..]
        } else {
            &CPU_SHAPES[..]
        };
        let mut rows = Vec::new();
        for name in &args.devices {
            let device = started_device(name)?;
            for &dtype in &args.dtypes {
                for &shape in shapes {
                    let row = bench(name, &device, shape, dtype, args.iters);
                    eprintln!("{name} {} {dtype:?}: {:?}", shape.name, row.times);
                    rows.push(row);
                }
            }
        }
        print!("{}", table(&rows));
        Ok(())
    })
}
