//! Axis ranges and tick labels of the charts.

/// A value range of an axis.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// The extent of `values`, widened by `pad` of its span on each side; `0..1` if empty.
    pub fn of(values: impl Iterator<Item = f64>, pad: f64) -> Self {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if lo > hi {
            return Self { lo: 0.0, hi: 1.0 };
        }
        if hi - lo < 1e-12 {
            return Self {
                lo: lo - 0.5,
                hi: hi + 0.5,
            };
        }
        let pad = pad * (hi - lo);
        Self {
            lo: lo - pad,
            hi: hi + pad,
        }
    }

    pub fn fraction(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }

    /// Round tick values inside the range: multiples of 1, 2 or 5 × 10^k, or whole numbers
    /// (octaves) on a log₂ axis.
    pub fn ticks(&self, octaves: bool) -> Vec<f64> {
        let span = self.hi - self.lo;
        let step = if octaves {
            (span / 8.0).ceil().max(1.0)
        } else {
            let raw = span / 5.0;
            let magnitude = 10f64.powf(raw.log10().floor());
            let nice = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .find(|m| m * magnitude >= raw)
                .unwrap_or(10.0);
            nice * magnitude
        };
        let first = (self.lo / step).ceil() as i64;
        let last = (self.hi / step).floor() as i64;
        (first..=last).map(|i| i as f64 * step).collect()
    }
}

/// The decimals that tell evenly spaced ticks apart, the same for every label of an axis.
pub(super) fn decimals(ticks: &[f64]) -> usize {
    let step = match ticks {
        [a, b, ..] => (b - a).abs(),
        [a] => a.abs(),
        [] => 1.0,
    };
    if step <= 0.0 || !step.is_finite() {
        return 0;
    }
    (-(step.log10() - 1e-9).floor()).clamp(0.0, 6.0) as usize
}
