//! `cargo bench [-- --backend wgpu]`: the op benchmark of `examples/rope_bench.rs` (same flags).

fn main() {
    // Cargo passes `--bench` to every bench target; the rest are the benchmark's own flags.
    let args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    if let Err(message) = burn_rotary_suite::rope_bench::run(args) {
        eprintln!("error: {message}");
        std::process::exit(2);
    }
}
