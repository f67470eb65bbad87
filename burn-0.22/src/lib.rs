//! Code shared by the examples and integration tests of `burn-rotary` on Burn 0.22.

pub mod cli;
pub mod compare;
pub mod device_choice;
pub mod hf_fixture;
pub mod hf_models_fixture;
pub mod hf_parity;
pub mod nd_fixture;
pub mod panic_report;
pub mod rope_bench;
pub mod train;
