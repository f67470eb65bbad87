//! The two-level angle table that keeps rotations exact at any position: its layout and values
//! are the core crate's ([`burn_rotary_core::table`]); this module adds the Burn `TensorData`.

use burn::tensor::TensorData;

pub use burn_rotary_core::table::*;

/// Builds the `[rows, 2, rotary_dim / 2]` `f32` table (middle axis: cos, sin) of
/// [`table_values`]: `attention_factor` folded into the fine rows, the poison row last.
pub fn build_table(inv_freq: &[f64], attention_factor: f64, max_positions: usize) -> TensorData {
    let values = table_values(inv_freq, attention_factor, max_positions);
    TensorData::new(values, [table_rows(max_positions), 2, inv_freq.len()])
}
