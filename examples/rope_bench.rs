//! Times `burn-rotary`'s RoPE against a plain copy and Burn 0.21's built-in `RotaryEncoding`
//! (the body lives in `burn_rotary_suite::rope_bench`; `cargo bench` runs the same thing).
//!
//! ```text
//! cargo run --release --example rope_bench -- --backend ndarray            # CPU shapes, f32
//! cargo run --release --example rope_bench -- --backend wgpu
//! cargo run --release --example rope_bench --features cuda -- --backend cuda  # GPU shapes, f32/bf16/f16
//! ```
//!
//! Flags: `--shapes cpu|gpu|all`, `--dtype f32|f16|bf16|all`, `--iters N`, `--glibc-malloc`.
//! The last line is `min speedup vs burn RotaryEncoding: X.Yx`.

fn main() {
    if let Err(message) = burn_rotary_suite::rope_bench::run(std::env::args().skip(1)) {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
