//! Trains a tiny RoPE transformer on the copy task with burn-train's `Learner`, on the device
//! chosen by `--device` (Burn 0.22 picks the backend at run time), and prints the validation
//! loss before and after.
//!
//! ```text
//! cargo run --release --example train -- --device flex --out runs/copy
//! cargo run --release --example train -- --device wgpu --out runs/copy-wgpu
//! ```

use std::path::PathBuf;

use burn_rotary::prelude::*;
use burn_rotary_suite::device_choice::started_device;
use burn_rotary_suite::train::{TrainSettings, run};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Train a tiny RoPE transformer on Burn 0.22's Learner")]
struct Args {
    /// flex, wgpu or cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex")]
    device: String,
    /// A new folder for the run (refused if it holds anything).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    #[arg(long, default_value_t = 2048)]
    train_items: usize,
    #[arg(long, default_value_t = 256)]
    valid_items: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// RoPE's θ.
    #[arg(long, default_value_t = 10_000.0)]
    theta: f64,
}

fn main() {
    let args = Args::parse();
    let settings = started_device(&args.device).map(|device| TrainSettings {
        device,
        epochs: args.epochs,
        train_items: args.train_items,
        valid_items: args.valid_items,
        batch_size: args.batch_size,
        half: 8,
        vocab_size: 16,
        lr: args.lr,
        seed: args.seed,
        rope: RopeConfig::new(16).with_theta(args.theta),
        out: args.out.clone(),
    });
    match settings.and_then(|s| run(&s)) {
        Ok(summary) => println!(
            "validation loss {:.4} -> {:.4}; model in {}",
            summary.loss_before,
            summary.loss_after,
            args.out.display()
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
