//! The verdict under the tables: the ordering the run measured, whether it is clear of the
//! spread over seeds, and how it compares with the literature. Every sentence is derived from
//! the numbers; nothing is assumed.

use std::fmt::Write as _;

use super::task::CLASSES;
use super::{Method, VitResults};
use crate::scaling_bench::Spread;

/// Two means whose gap is within this many (pooled) standard deviations count as a tie.
const TIE: f64 = 1.0;

/// A model whose training accuracy over the last steps reaches this learned the task.
const LEARNED: f64 = 0.9;

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

/// Whether `a` is clearly above `b` (`Some(true)`), clearly below (`Some(false)`) or within the
/// spread over seeds (`None`).
fn compare(a: Spread, b: Spread) -> Option<bool> {
    let spread = TIE * (a.std.powi(2) + b.std.powi(2)).sqrt();
    let spread = if spread.is_finite() { spread } else { 0.0 };
    let gap = a.mean - b.mean;
    (gap.abs() > spread.max(1e-9)).then_some(gap > 0.0)
}

/// The methods at `side`, best accuracy first, joined by `>` (clear) or `≈` (within the spread).
fn ranking(results: &VitResults, side: usize) -> String {
    let mut scored: Vec<(Method, Spread)> = Method::ALL
        .iter()
        .filter_map(|&m| Some((m, results.row(m, side)?.accuracy())))
        .collect();
    scored.sort_by(|a, b| b.1.mean.total_cmp(&a.1.mean));
    let mut s = String::new();
    for (i, (m, acc)) in scored.iter().enumerate() {
        if i > 0 {
            let sep = match compare(scored[i - 1].1, *acc) {
                Some(true) => " > ",
                _ => " ≈ ",
            };
            s.push_str(sep);
        }
        write!(s, "`{}` {}", m.name(), pct(acc.mean)).unwrap();
    }
    s
}

/// The mean accuracy of `method` over the grids larger than the training one, per seed.
fn beyond(results: &VitResults, method: Method) -> Spread {
    let train = results.config.train_grid;
    let rows: Vec<_> = results
        .rows
        .iter()
        .filter(|r| r.method == method && r.grid > train)
        .collect();
    Spread::of(
        (0..results.seeds.len()).map(|s| {
            rows.iter().map(|r| r.scores[s].accuracy).sum::<f64>() / rows.len().max(1) as f64
        }),
    )
}

/// The verdict, a few short paragraphs of markdown.
pub fn verdict(results: &VitResults) -> String {
    let c = &results.config;
    let train = c.train_grid;
    let largest = *c.grids.last().expect("grids");
    let chance = 1.0 / CLASSES as f64;
    let mut out = String::new();
    let fits: Vec<String> = results
        .train_accuracy
        .iter()
        .map(|(encoding, per_seed)| {
            let learned = per_seed.iter().filter(|&&a| a >= LEARNED).count();
            let worst = per_seed.iter().copied().fold(f64::INFINITY, f64::min);
            format!(
                "{} {learned} of {} seeds (worst {})",
                match encoding {
                    super::model::Encoding::Rope2d => "RoPE",
                    super::model::Encoding::Learned => "learned embeddings",
                },
                per_seed.len(),
                pct(worst)
            )
        })
        .collect();
    writeln!(
        out,
        "Learned the task at the training grid (training accuracy over the last steps ≥ {}): \
         {}.",
        pct(LEARNED),
        fits.join("; ")
    )
    .unwrap();
    if let Some(&first) = c.grids.first() {
        writeln!(
            out,
            "At the smallest grid scored, {first}×{first}: {}.",
            ranking(results, first)
        )
        .unwrap();
    }
    if largest <= train {
        out += "\nNo grid larger than the training one was scored: nothing to say about \
                extrapolation.\n";
        return out;
    }
    let ratio = largest as f64 / train as f64;
    writeln!(
        out,
        "At the largest, {largest}×{largest} ({ratio}× per side, {}× the patches): {} (chance \
         {}; `>`: the gap exceeds the seeds' pooled std, `≈`: it does not).",
        ratio * ratio,
        ranking(results, largest),
        pct(chance)
    )
    .unwrap();
    let mut means: Vec<(Method, Spread)> = Method::ALL
        .iter()
        .map(|&m| (m, beyond(results, m)))
        .collect();
    means.sort_by(|a, b| b.1.mean.total_cmp(&a.1.mean));
    let listed: Vec<String> = means
        .iter()
        .map(|(m, s)| format!("`{}` {}", m.name(), s.show(100.0, 1)))
        .collect();
    writeln!(
        out,
        "Mean accuracy (%) over the grids larger than {train}×{train}: {}.\n",
        listed.join(", ")
    )
    .unwrap();

    let acc = |m: Method| beyond(results, m);
    let (rope, ape) = (acc(Method::Rope), acc(Method::LearnedInterp));
    let literature = "Heo et al. (2024, \"Rotary Position Embedding for Vision Transformer\", \
                      RoPE-Mixed) report 2-D RoPE keeping accuracy better than interpolated \
                      absolute embeddings when a ViT runs above its training resolution";
    let ape_learned = results
        .train_accuracy
        .iter()
        .filter(|(e, _)| *e == super::model::Encoding::Learned)
        .flat_map(|(_, per_seed)| per_seed.iter())
        .all(|&a| a >= LEARNED);
    // RoPE as trained against interpolated learned embeddings, grid by grid beyond training.
    let (mut ahead, mut behind, mut tied) = (Vec::new(), Vec::new(), Vec::new());
    let mut pairs = Vec::new();
    for &side in c.grids.iter().filter(|&&g| g > train) {
        let (Some(r), Some(a)) = (
            results.row(Method::Rope, side),
            results.row(Method::LearnedInterp, side),
        ) else {
            continue;
        };
        let (r, a) = (r.accuracy(), a.accuracy());
        let grid = format!("{side}×{side}");
        let (sign, list) = match compare(r, a) {
            Some(true) => (">", &mut ahead),
            Some(false) => ("<", &mut behind),
            None => ("≈", &mut tied),
        };
        pairs.push(format!("{grid} {} {sign} {}", pct(r.mean), pct(a.mean)));
        list.push(grid);
    }
    writeln!(
        out,
        "`rope` against `ape_interp`, grid by grid: {}.\n",
        pairs.join(", ")
    )
    .unwrap();
    let agreement = if !ape_learned {
        format!(
            "is not a fair test of it: not every learned-embedding model learned the task at the \
             training grid (≥ {}), so their lower scores beyond it (mean {} against RoPE's {}) \
             do not isolate extrapolation",
            pct(LEARNED),
            pct(ape.mean),
            pct(rope.mean)
        )
    } else {
        match (ahead.is_empty(), behind.is_empty(), tied.is_empty()) {
            (false, true, true) => format!(
                "agrees: RoPE as trained beats interpolated learned embeddings at every larger \
                 grid, by {:.1} points on average",
                100.0 * (rope.mean - ape.mean)
            ),
            (false, true, false) => format!(
                "agrees in part: RoPE as trained is ahead beyond the spread over seeds at {} and \
                 within it at {}",
                ahead.join(", "),
                tied.join(", ")
            ),
            (true, false, _) => format!(
                "disagrees: interpolated learned embeddings are ahead beyond the spread at {}",
                behind.join(", ")
            ),
            (false, false, _) => format!(
                "is mixed: RoPE as trained is ahead at {}, interpolated learned embeddings at {}",
                ahead.join(", "),
                behind.join(", ")
            ),
            (true, true, _) => "does not settle it: RoPE as trained and interpolated learned \
                                embeddings are within the spread over seeds at every larger grid"
                .to_string(),
        }
    };
    writeln!(
        out,
        "{literature}; this run {agreement}. Note the setting: here a larger grid is a larger \
         field of view at the same patch scale (the strokes keep their length in patches), \
         while a higher resolution in Heo et al. also magnifies the objects.\n"
    )
    .unwrap();

    for (method, how) in [
        (
            Method::RopeCoordInterp,
            "coordinate interpolation (one patch step becomes train/side of a trained step, so \
             the neighbour along a stroke no longer sits at the offset the model learned)",
        ),
        (
            Method::RopeNtk,
            "NTK θ scaling (the highest frequency of each axis kept, the lowest interpolated)",
        ),
    ] {
        let stretched = acc(method);
        let effect = match compare(stretched, rope) {
            Some(true) => "helped",
            Some(false) => "hurt",
            None => "made no difference beyond the spread",
        };
        writeln!(
            out,
            "Stretching RoPE by {how} {effect}: {} against {} as trained, on average beyond \
             the training grid.",
            pct(stretched.mean),
            pct(rope.mean)
        )
        .unwrap();
    }
    out
}
