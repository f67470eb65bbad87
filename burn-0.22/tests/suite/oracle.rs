//! A float64 RoPE on the host, written from the formula: the oracle of the suite.

use burn_rotary::RopeLayout;

/// What the oracle needs to rotate `[batch, heads, seq, head_dim]` values.
pub struct Oracle<'a> {
    pub inv_freq: &'a [f64],
    pub attention_factor: f64,
    pub layout: RopeLayout,
    pub head_dim: usize,
}

impl Oracle<'_> {
    /// `x` is `[batch, heads, seq, head_dim]`; `position(b, s)` gives each row's position.
    pub fn rotate(
        &self,
        x: &[f64],
        dims: [usize; 4],
        position: impl Fn(usize, usize) -> u64,
    ) -> Vec<f64> {
        self.rotate_pairs(x, dims, |b, s, _| position(b, s))
    }

    /// Like [`Oracle::rotate`], with a position per pair: `position(b, s, i)` (several
    /// coordinate axes).
    pub fn rotate_pairs(
        &self,
        x: &[f64],
        dims: [usize; 4],
        position: impl Fn(usize, usize, usize) -> u64,
    ) -> Vec<f64> {
        let [batch, heads, seq, d] = dims;
        assert_eq!(d, self.head_dim);
        let half = self.inv_freq.len();
        let mut out = x.to_vec();
        for b in 0..batch {
            for h in 0..heads {
                for s in 0..seq {
                    let row = ((b * heads + h) * seq + s) * d;
                    for (i, w) in self.inv_freq.iter().enumerate() {
                        let p = position(b, s, i) as f64;
                        let (i1, i2) = match self.layout {
                            RopeLayout::Half => (i, i + half),
                            RopeLayout::Interleaved => (2 * i, 2 * i + 1),
                        };
                        let (sin, cos) = (p * w).sin_cos();
                        let (x1, x2) = (x[row + i1], x[row + i2]);
                        out[row + i1] = self.attention_factor * (x1 * cos - x2 * sin);
                        out[row + i2] = self.attention_factor * (x2 * cos + x1 * sin);
                    }
                }
            }
        }
        out
    }
}
