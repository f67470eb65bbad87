//! Code shared by the examples, integration tests and benchmarks of `burn-rotary`.

pub mod backend_choice;
pub mod cli;
pub mod compare;
pub mod data;
pub mod hf_fixture;
pub mod hf_models_fixture;
pub mod hf_parity;
pub mod llama;
pub mod lm;
pub mod model;
pub mod nd_fixture;
pub mod packing;
pub mod panic_report;
pub mod plot;
pub mod progress;
pub mod rope_bench;
pub mod scaling_bench;
pub mod scaling_methods;
pub mod staging;
pub mod train;
pub mod vision;
