//! Trains a tiny RoPE transformer on the copy task with burn-train's `Learner`, on the device
//! chosen by `--device` (Burn 0.22 picks the backend at run time), and prints the validation
//! loss before and after. The same seed gives the same losses.
//!
//! ```text
//! cargo run --release --example train -- --device flex --out runs/copy
//! cargo run --release --example train -- --device wgpu --out runs/copy-wgpu
//! ```

use std::path::PathBuf;

use burn_rotary::prelude::*;
use burn_rotary_suite::cli::{at_least_1, device, parse_or_exit, positive, run_main};
use burn_rotary_suite::device_choice::started_device;
use burn_rotary_suite::train::{TrainSettings, run};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Train a tiny RoPE transformer on Burn 0.22's Learner")]
struct Args {
    /// flex, wgpu or cuda (each needs its cargo feature).
    #[arg(long, default_value = "flex", value_parser = device)]
    device: String,
    /// A new folder for the run (refused if it holds anything).
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 3, value_parser = at_least_1)]
    epochs: usize,
    #[arg(long, default_value_t = 2048, value_parser = at_least_1)]
    train_items: usize,
    #[arg(long, default_value_t = 256, value_parser = at_least_1)]
    valid_items: usize,
    #[arg(long, default_value_t = 32, value_parser = at_least_1)]
    batch_size: usize,
    #[arg(long, default_value_t = 3e-3, value_parser = positive)]
    lr: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// RoPE's θ.
    #[arg(long, default_value_t = 10_000.0, value_parser = positive)]
    theta: f64,
}

fn main() {
    let args: Args = parse_or_exit();
    run_main("train", || {
        let settings = TrainSettings {
            device: started_device(&args.device)?,
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
        };
        let summary = run(&settings)?;
        println!(
            "validation loss {:.4} -> {:.4}; model in {}",
            summary.loss_before,
            summary.loss_after,
            args.out.display()
        );
        Ok(())
    })
}
