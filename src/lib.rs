//! Code shared by the examples, integration tests and benchmarks of `burn-rotary`.

pub mod backend_choice;
pub mod hf_fixture;
