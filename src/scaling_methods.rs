//! The context-extension methods the scaling benchmark compares, and how each one's parameters
//! follow from the training context `L` and a target context `T`, with `s = T / L`.
//!
//! Every method is the crate's own [`RopeScaling`] variant; this file only says which
//! parameters a user would pick to run a model trained on `L` positions on `T` positions, the
//! way the method's paper and HuggingFace configs do. A new method is one more variant here.

use burn_rotary::{Llama3Scaling, LongRopeScaling, RopeConfig, RopeScaling, YarnScaling};

/// A context-extension method, applied at inference to a model trained with plain RoPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Plain RoPE, extrapolated: no parameter.
    None,
    /// Position interpolation (Chen et al. 2023): `factor = s`, so `T` positions are squeezed
    /// into the `L` the model saw, `inv_freq_i = b^(-2i/d) / s`.
    Linear,
    /// Static NTK-aware scaling: `factor = s`, base `b * s^(d/(d-2))`; the lowest frequency is
    /// interpolated by exactly `s`, the highest kept.
    Ntk,
    /// Dynamic NTK: `factor = 1` and `max_position_embeddings = L`, so that at a sequence length
    /// `n > L` the base is `b * (n/L)^(d/(d-2))`: static NTK for the length seen so far, and plain
    /// RoPE up to `L`. The benchmark runs it as a decoder does, each token scaled for the length
    /// up to it.
    DynamicNtk,
    /// YaRN (Peng et al. 2023): `factor = s`, `original_max_position_embeddings = L`, HF's
    /// `beta_fast = 32`, `beta_slow = 1`, attention factor `0.1 ln(s) + 1`.
    Yarn,
    /// Llama 3.1: `factor = s`, `original_max_position_embeddings = L` and Llama 3.1's bands
    /// (`low_freq_factor = 1`, `high_freq_factor = 4`): wavelengths above `L` are divided by `s`,
    /// below `L/4` kept.
    Llama3,
    /// LongRoPE (Ding et al. 2024): `short_factor = 1` (the model as trained up to `L`),
    /// `long_factor = λ` per frequency, `original_max_position_embeddings = L`, `factor = s`, so
    /// the attention factor is `sqrt(1 + ln(s) / ln(L))`. `λ` is given by the user, or searched
    /// over [`longrope_candidates`] as the paper searches its factors: on held-out text at `T`.
    LongRope,
}

impl Method {
    /// Every method, in table order.
    pub const ALL: [Method; 7] = [
        Method::None,
        Method::Linear,
        Method::Ntk,
        Method::DynamicNtk,
        Method::Yarn,
        Method::Llama3,
        Method::LongRope,
    ];

    /// Short name, as in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Linear => "linear",
            Method::Ntk => "ntk",
            Method::DynamicNtk => "dynamic_ntk",
            Method::Yarn => "yarn",
            Method::Llama3 => "llama3",
            Method::LongRope => "longrope",
        }
    }

    /// Whether the literature fine-tunes with this method (position interpolation, YaRN).
    pub fn fine_tuned_in_literature(self) -> bool {
        matches!(self, Method::Linear | Method::Yarn)
    }

    /// The scaling that runs a model trained on `train_len` positions on `target_len`
    /// positions; `long_factor` is LongRoPE's `λ` (`rotary_dim / 2` values, ignored by the
    /// others).
    ///
    /// # Panics
    /// If `train_len` is zero.
    pub fn scaling(self, train_len: usize, target_len: usize, long_factor: &[f64]) -> RopeScaling {
        assert!(train_len > 0, "Method::scaling: train_len is 0");
        let s = extension_ratio(train_len, target_len);
        match self {
            Method::None => RopeScaling::None,
            Method::Linear => RopeScaling::Linear { factor: s },
            Method::Ntk => RopeScaling::Ntk { factor: s },
            Method::DynamicNtk => RopeScaling::DynamicNtk { factor: 1.0 },
            Method::Yarn => RopeScaling::Yarn(YarnScaling::new(s, train_len)),
            Method::Llama3 => RopeScaling::Llama3(Llama3Scaling {
                factor: s,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_max_position_embeddings: train_len,
            }),
            Method::LongRope => RopeScaling::LongRope(LongRopeScaling {
                short_factor: vec![1.0; long_factor.len()],
                long_factor: long_factor.to_vec(),
                original_max_position_embeddings: train_len,
                factor: Some(s),
                attention_factor: None,
            }),
        }
    }

    /// `base` (the model's training config, plain RoPE) with this method's scaling for
    /// `target_len`; `max_position_embeddings` becomes `train_len`, which dynamic NTK reads.
    pub fn config(
        self,
        base: &RopeConfig,
        train_len: usize,
        target_len: usize,
        long_factor: &[f64],
    ) -> RopeConfig {
        base.clone()
            .with_scaling(self.scaling(train_len, target_len, long_factor))
            .with_max_position_embeddings(train_len)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method `{name}` (known: {})", names.join(", "))
            })
    }
}

/// `s = max(T / L, 1)`: no method shrinks the context.
pub fn extension_ratio(train_len: usize, target_len: usize) -> f64 {
    (target_len as f64 / train_len as f64).max(1.0)
}

/// LongRoPE factor candidates for ratio `s` and `half = rotary_dim / 2` frequencies: the ramps
/// `λ_i = s^((i / (half - 1))^p)` from `1` on the highest frequency to `s` on the lowest, for
/// `p` in `0` (every frequency interpolated by `s`: position interpolation), `1` (exactly the
/// static NTK factors `s^(2i/(d-2))`), and `1/2, 2, 4` around it. Each comes with its `p`.
pub fn longrope_candidates(s: f64, half: usize) -> Vec<(f64, Vec<f64>)> {
    [0.0, 0.5, 1.0, 2.0, 4.0]
        .into_iter()
        .map(|p| {
            let ramp = (0..half)
                .map(|i| {
                    let x = i as f64 / (half.max(2) - 1) as f64;
                    s.powf(if p == 0.0 { 1.0 } else { x.powf(p) })
                })
                .collect();
            (p, ramp)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_rotary::default_inv_freq;

    const L: usize = 64;
    const T: usize = 512;
    const D: usize = 16;
    const THETA: f64 = 10_000.0;

    fn freqs(method: Method, long_factor: &[f64], seq_len: Option<usize>) -> (Vec<f64>, f64) {
        let f = method
            .config(&RopeConfig::new(D), L, T, long_factor)
            .frequencies(seq_len);
        (f.inv_freq, f.attention_factor)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn ratio_is_target_over_train_length() {
        assert_eq!(extension_ratio(L, T), 8.0);
        assert_eq!(extension_ratio(L, L), 1.0);
        assert_eq!(extension_ratio(L, L / 2), 1.0);
    }

    #[test]
    fn none_is_plain_rope() {
        let (inv, a) = freqs(Method::None, &[], Some(T));
        assert_eq!(inv, default_inv_freq(THETA, D));
        assert_eq!(a, 1.0);
    }

    #[test]
    fn linear_divides_every_frequency_by_s() {
        let (inv, a) = freqs(Method::Linear, &[], None);
        for (x, x0) in inv.iter().zip(default_inv_freq(THETA, D)) {
            assert!(close(*x, x0 / 8.0));
        }
        assert_eq!(a, 1.0);
    }

    #[test]
    fn ntk_keeps_the_highest_and_interpolates_the_lowest_by_s() {
        let (inv, _) = freqs(Method::Ntk, &[], None);
        let plain = default_inv_freq(THETA, D);
        let base = THETA * 8f64.powf(D as f64 / (D - 2) as f64);
        assert_eq!(inv, default_inv_freq(base, D));
        assert!(close(inv[0], plain[0]));
        assert!(close(inv[D / 2 - 1], plain[D / 2 - 1] / 8.0));
    }

    #[test]
    fn dynamic_ntk_is_static_ntk_for_the_current_length() {
        assert_eq!(
            freqs(Method::DynamicNtk, &[], Some(L)).0,
            default_inv_freq(THETA, D)
        );
        for n in [2 * L, T] {
            let ratio = n as f64 / L as f64;
            let base = THETA * ratio.powf(D as f64 / (D - 2) as f64);
            let (inv, _) = freqs(Method::DynamicNtk, &[], Some(n));
            for (x, y) in inv.iter().zip(default_inv_freq(base, D)) {
                assert!(close(*x, y), "n = {n}: {x} vs {y}");
            }
        }
    }

    #[test]
    fn yarn_has_factor_s_and_attention_factor_from_it() {
        let RopeScaling::Yarn(y) = Method::Yarn.scaling(L, T, &[]) else {
            panic!()
        };
        assert_eq!((y.factor, y.original_max_position_embeddings), (8.0, L));
        let (inv, a) = freqs(Method::Yarn, &[], None);
        assert!(close(a, 0.1 * 8f64.ln() + 1.0));
        let plain = default_inv_freq(THETA, D);
        assert!(close(inv[0], plain[0]), "fast dimensions are kept");
        assert!(
            close(inv[D / 2 - 1], plain[D / 2 - 1] / 8.0),
            "slow ones interpolated"
        );
    }

    #[test]
    fn llama3_divides_wavelengths_above_l_by_s_and_keeps_those_below_l_over_4() {
        let (inv, a) = freqs(Method::Llama3, &[], None);
        for (x, x0) in inv.iter().zip(default_inv_freq(THETA, D)) {
            let wavelength = 2.0 * std::f64::consts::PI / x0;
            if wavelength > L as f64 {
                assert!(close(*x, x0 / 8.0));
            } else if wavelength < L as f64 / 4.0 {
                assert!(close(*x, x0));
            } else {
                assert!(*x < x0 && *x > x0 / 8.0);
            }
        }
        assert_eq!(a, 1.0);
    }

    #[test]
    fn longrope_uses_its_long_factors_beyond_l_and_sqrt_attention_factor() {
        let candidates = longrope_candidates(8.0, D / 2);
        let (_, ntk_like) = candidates.iter().find(|(p, _)| *p == 1.0).unwrap();
        for (i, l) in ntk_like.iter().enumerate() {
            assert!(close(*l, 8f64.powf(2.0 * i as f64 / (D - 2) as f64)));
        }
        let (_, uniform) = &candidates[0];
        assert!(uniform.iter().all(|l| close(*l, 8.0)));
        for (_, c) in &candidates {
            assert!(close(c[0], if c == uniform { 8.0 } else { 1.0 }) && close(c[D / 2 - 1], 8.0));
        }

        let (short, a_short) = freqs(Method::LongRope, ntk_like, Some(L));
        assert_eq!(short, default_inv_freq(THETA, D));
        let (long, a) = freqs(Method::LongRope, ntk_like, Some(T));
        for ((x, x0), l) in long.iter().zip(default_inv_freq(THETA, D)).zip(ntk_like) {
            assert!(close(*x, x0 / l));
        }
        let expected = (1.0 + 8f64.ln() / (L as f64).ln()).sqrt();
        assert!(close(a, expected) && close(a_short, expected));
    }

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>(), Ok(m));
        }
        assert!("rope2".parse::<Method>().unwrap_err().contains("rope2"));
    }
}
