//! What the text tables show, checked against the literature's results on text loss (the
//! retrieval tables: [`super::retrieval_verdict`]).
//!
//! A claim "A is below B" holds only when it holds for every seed (paired: the same trained
//! model scored under both methods) and the mean difference exceeds [`LOSS_TIE`]: the seeds'
//! spread, not one lucky model, decides.

use std::f64::consts::PI;
use std::fmt::Write as _;

use super::{BenchResults, TaskKind};

/// Mean loss differences below this (nats) are a tie.
pub const LOSS_TIE: f64 = 0.01;

/// YaRN's HF defaults, as in [`crate::scaling_methods::Method::Yarn`].
const BETA_FAST: f64 = 32.0;
const BETA_SLOW: f64 = 1.0;

/// How `a` compares with `b` on text loss at `len`, paired over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Lower for every seed, by more than [`LOSS_TIE`] on average.
    Below,
    /// Higher for every seed, by more than [`LOSS_TIE`] on average.
    Above,
    /// Neither.
    Unclear,
}

/// Per-seed text losses of `method` at `len`.
fn losses(results: &BenchResults, method: &str, len: usize) -> Option<Vec<f64>> {
    let row = results.row(TaskKind::Text, method, len)?;
    let v: Vec<f64> = row.scores.iter().map(|s| s.loss).collect();
    v.iter().all(|x| x.is_finite()).then_some(v)
}

/// `a` against `b` at `len` (`None` if either is missing or not finite).
pub fn compare(results: &BenchResults, a: &str, b: &str, len: usize) -> Option<Order> {
    Some(order(&losses(results, a, len)?, &losses(results, b, len)?))
}

/// Per-seed losses `a` against `b` (same seeds, same order).
pub(super) fn order(a: &[f64], b: &[f64]) -> Order {
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let mean = diffs.iter().sum::<f64>() / diffs.len() as f64;
    if diffs.iter().all(|&d| d < 0.0) && mean < -LOSS_TIE {
        Order::Below
    } else if diffs.iter().all(|&d| d > 0.0) && mean > LOSS_TIE {
        Order::Above
    } else {
        Order::Unclear
    }
}

fn mean_loss(results: &BenchResults, method: &str, len: usize) -> f64 {
    losses(results, method, len).map_or(f64::NAN, |v| v.iter().sum::<f64>() / v.len() as f64)
}

/// The methods at `len` from lowest mean loss, `<` between robustly ordered neighbours and
/// `≈` between the others.
fn ordering(results: &BenchResults, len: usize) -> String {
    let mut methods: Vec<&str> = results
        .methods(TaskKind::Text)
        .into_iter()
        .filter(|m| losses(results, m, len).is_some())
        .collect();
    methods.sort_by(|a, b| mean_loss(results, a, len).total_cmp(&mean_loss(results, b, len)));
    let mut out = String::new();
    for (i, m) in methods.iter().enumerate() {
        if i > 0 {
            let robust = compare(results, methods[i - 1], m, len) == Some(Order::Below);
            out += if robust { " < " } else { " ≈ " };
        }
        write!(out, "{m} {:.3}", mean_loss(results, m, len)).unwrap();
    }
    out
}

/// The extended lengths (beyond `L`) at which `a` is below `b`, and those at which it is not.
fn below_at(results: &BenchResults, a: &str, b: &str) -> (Vec<usize>, Vec<usize>) {
    results
        .lengths
        .iter()
        .filter(|&&n| n > results.train_len)
        .filter(|&&n| compare(results, a, b, n).is_some())
        .partition(|&&n| compare(results, a, b, n) == Some(Order::Below))
}

/// The lengths as `64, 128, 256`.
pub(super) fn list(lengths: &[usize]) -> String {
    let v: Vec<String> = lengths.iter().map(usize::to_string).collect();
    v.join(", ")
}

/// The verdict: the ordering at each extended length, then each literature result checked.
pub fn verdict(results: &BenchResults) -> String {
    let l = results.train_len;
    let mut out = String::new();
    if !results.has(TaskKind::Text) {
        return "No text rows: nothing to check against the literature.\n".into();
    }
    if results.lengths.iter().all(|&n| n <= l) {
        return "No length beyond the training length was scored: nothing to check.\n".into();
    }
    out +=
        "Ordering by held-out text loss (`<`: lower for every seed; `≈`: not for every seed):\n\n";
    for &n in results.lengths.iter().filter(|&&n| n > l) {
        writeln!(out, "- {n} tokens ({}×): {}", n / l, ordering(results, n)).unwrap();
    }
    out += "\nAgainst the literature:\n\n";
    let longest = *results.lengths.last().unwrap_or(&l);

    // 1. Plain RoPE does not extrapolate.
    let (l0, l1) = (
        mean_loss(results, "none", l),
        mean_loss(results, "none", longest),
    );
    let agrees = l1 > l0 + LOSS_TIE;
    writeln!(
        out,
        "- Plain RoPE degrades beyond its training length (Press et al. 2022; Chen et al. 2023, \
         fig. 1): {} — `none` {l0:.3} at {l} → {l1:.3} at {longest}.",
        if agrees { "agrees" } else { "does not agree" }
    )
    .unwrap();

    // 2. NTK-aware and dynamic NTK extend without fine-tuning.
    for (m, who) in [
        ("ntk", "NTK-aware (bloc97 2023)"),
        ("dynamic_ntk", "dynamic NTK (emozilla 2023)"),
    ] {
        let (yes, no) = below_at(results, m, "none");
        let verdict = if no.is_empty() && !yes.is_empty() {
            format!(
                "agrees: below `none` at every extended length ({})",
                list(&yes)
            )
        } else {
            format!(
                "does not agree at {} (not lower than `none` for every seed there; it is at {}): \
                 means {}",
                list(&no),
                if yes.is_empty() {
                    "no length".into()
                } else {
                    list(&yes)
                },
                no.iter()
                    .map(|&n| format!(
                        "{n}: {:.3} vs {:.3}",
                        mean_loss(results, m, n),
                        mean_loss(results, "none", n)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        writeln!(out, "- {who} extends without fine-tuning: {verdict}.").unwrap();
    }

    // 3. PI needs fine-tuning.
    let ft_len = results.finetune.map(|(_, n)| n);
    let (pi_vs_ntk, _) = below_at(results, "ntk", "linear");
    let mut pi = format!(
        "- Position interpolation needs fine-tuning (Chen et al. 2023): without it, `linear` is \
         above `ntk` at {} of {} extended lengths",
        pi_vs_ntk.len(),
        results.lengths.iter().filter(|&&n| n > l).count()
    );
    if let Some(n) = ft_len {
        let c = compare(results, "linear+ft", "linear", n);
        write!(
            pi,
            "; fine-tuned at {n}, {} ({:.3} vs {:.3} at {n})",
            match c {
                Some(Order::Below) => "it recovers: `linear+ft` is below `linear` for every seed",
                _ => "it does not recover for every seed",
            },
            mean_loss(results, "linear+ft", n),
            mean_loss(results, "linear", n)
        )
        .unwrap();
        let agrees = c == Some(Order::Below) && !pi_vs_ntk.is_empty();
        write!(
            pi,
            " — {}.",
            if agrees {
                "agrees"
            } else {
                "does not fully agree"
            }
        )
        .unwrap();
    } else {
        pi += " (no fine-tuning in this run: --finetune 0).";
    }
    writeln!(out, "{pi}").unwrap();

    // 4. YaRN with a short fine-tune is best.
    if let Some(n) = ft_len {
        let best = results
            .methods(TaskKind::Text)
            .into_iter()
            .filter(|m| losses(results, m, n).is_some())
            .min_by(|a, b| mean_loss(results, a, n).total_cmp(&mean_loss(results, b, n)))
            .unwrap_or("-");
        let yarn_first = best == "yarn+ft";
        let vs_pi = compare(results, "yarn+ft", "linear+ft", n);
        write!(
            out,
            "- YaRN with a short fine-tune is best (Peng et al. 2023): at {n}, `yarn+ft` {:.3}, \
             `linear+ft` {:.3}, lowest `{best}` {:.3} — ",
            mean_loss(results, "yarn+ft", n),
            mean_loss(results, "linear+ft", n),
            mean_loss(results, best, n)
        )
        .unwrap();
        if yarn_first && vs_pi == Some(Order::Below) {
            out += "agrees.\n";
        } else {
            let (kept, ramp, interpolated) = yarn_bands(results.head_dim, results.theta, l);
            let fastest = l as f64 / (2.0 * PI);
            writeln!(
                out,
                "does not agree{}. Measured reason: YaRN keeps unscaled only the dimensions that \
                 turn more than {BETA_FAST} times within L; at L = {l} the fastest turns {fastest:.1} \
                 times, so of the {} frequencies it keeps {kept}, ramps {ramp} and interpolates \
                 {interpolated} — nearly position interpolation plus its attention temperature \
                 (in Llama 2, L = 4096, the fastest turns {:.0} times and YaRN keeps the fast \
                 dimensions).",
                match vs_pi {
                    Some(Order::Below) => String::new(),
                    Some(Order::Above) => "; `yarn+ft` is above `linear+ft` for every seed".into(),
                    _ => "; `yarn+ft` and `linear+ft` are not ordered the same for every seed".into(),
                },
                results.head_dim / 2,
                4096.0 / (2.0 * PI)
            )
            .unwrap();
        }
    }
    out
}

/// The warning under the verdict when the seeds are too few to trust a spread.
pub fn seeds_note(results: &BenchResults) -> &'static str {
    if results.seeds.len() >= 3 {
        return "";
    }
    "\nFewer than 3 seeds: spreads are unreliable; the literature checks are only indicative.\n"
}

/// How many of the `head_dim / 2` frequencies YaRN keeps (`> β_fast` turns within `L`),
/// ramps, and interpolates (`< β_slow` turns).
fn yarn_bands(head_dim: usize, theta: f64, l: usize) -> (usize, usize, usize) {
    let half = head_dim / 2;
    let turns = |i: usize| l as f64 / (2.0 * PI * theta.powf(2.0 * i as f64 / head_dim as f64));
    let kept = (0..half).filter(|&i| turns(i) > BETA_FAST).count();
    let interpolated = (0..half).filter(|&i| turns(i) < BETA_SLOW).count();
    (kept, half - kept - interpolated, interpolated)
}

#[cfg(test)]
mod tests {
    use super::yarn_bands;

    #[test]
    fn yarn_keeps_no_frequency_at_short_contexts() {
        assert_eq!(yarn_bands(64, 10_000.0, 32).0, 0);
        let (kept, _, interpolated) = yarn_bands(128, 10_000.0, 4096);
        assert!(kept > 10 && interpolated > 10);
    }
}
