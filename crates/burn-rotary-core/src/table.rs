//! The two-level angle table that keeps rotations exact at any position.
//!
//! `pos * inv_freq` in `f32` loses up to ~4e-3 rad at position 131072. Instead, every position
//! is split as `p = FINE * c + j` (`j < FINE`) and the angle as `p w = (FINE c) w + j w`. Both
//! parts are evaluated in `f64` on the host, once, and stored as their cos and sin in `f32`:
//!
//! ```text
//! row j            (0 <= j < FINE):  [a cos(j w_i)    for i] ++ [a sin(j w_i)    for i]
//! row FINE + c                    :  [cos(FINE c w_i) for i] ++ [sin(FINE c w_i) for i]
//! ```
//!
//! where `a` is the attention factor. A device then needs only the angle-addition identities,
//! `cos(x + y) = cos x cos y - sin x sin y` and `sin(x + y) = sin x cos y + cos x sin y`, whose
//! `f32` rounding adds about 1e-7: the rotation error stays below 1e-6 rad at every position
//! the table covers, on every backend and for every storage dtype.
//!
//! The table ends with one row of NaN, the *poison row*: a device that meets a position outside
//! `0..max_positions` reads it instead, so that row comes out NaN, loudly, rather than as a
//! plausible wrong number read from memory the table does not own.

/// Positions per coarse step: the number of fine rows.
pub const FINE: usize = 1024;

/// Rows of a table covering positions `0..max_positions`, the poison row included.
pub fn table_rows(max_positions: usize) -> usize {
    FINE + max_positions.div_ceil(FINE) + 1
}

/// The values of the `[rows, 2, rotary_dim / 2]` `f32` table (middle axis: cos, sin), row-major,
/// for `inv_freq`, with `attention_factor` folded into the fine rows and the poison row last
/// (`rows` = [`table_rows`]`(max_positions)`).
pub fn table_values(inv_freq: &[f64], attention_factor: f64, max_positions: usize) -> Vec<f32> {
    let half = inv_freq.len();
    let rows = table_rows(max_positions);
    let mut values = Vec::with_capacity(rows * half * 2);
    for row in 0..rows {
        let (steps, scale) = if row < FINE {
            (row as f64, attention_factor)
        } else if row + 1 < rows {
            (((row - FINE) * FINE) as f64, 1.0)
        } else {
            (0.0, f64::NAN) // the poison row
        };
        let angles = || inv_freq.iter().map(|w| (steps * w).sin_cos());
        values.extend(angles().map(|(_, cos)| (cos * scale) as f32));
        values.extend(angles().map(|(sin, _)| (sin * scale) as f32));
    }
    values
}

/// The poison row of a table of `rows` rows: all NaN.
#[inline]
pub fn poison_row(rows: usize) -> usize {
    rows - 1
}

/// The table row pair `(fine, coarse)` of position `p`.
#[inline]
pub fn rows_of(p: usize) -> (usize, usize) {
    (p % FINE, FINE + p / FINE)
}
