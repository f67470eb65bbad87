//! The benchmark's outputs: the markdown summary (tables of accuracy and loss, mean ± std over
//! seeds, and a verdict), the CSV, and the SVG plots, written whole or not at all.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::config::list;
use super::model::Encoding;
use super::task::CLASSES;
use super::{Method, Row, VitResults};
use crate::plot::LineChart;
use crate::scaling_bench::{write_atomic, Spread};

impl Row {
    /// Accuracy over the seeds.
    pub fn accuracy(&self) -> Spread {
        Spread::of(self.scores.iter().map(|s| s.accuracy))
    }

    /// Loss over the seeds.
    pub fn loss(&self) -> Spread {
        Spread::of(self.scores.iter().map(|s| s.loss))
    }
}

/// `n×n`.
fn grid(side: usize) -> String {
    format!("{side}×{side}")
}

/// A table: one row per method, one column per grid.
fn table(results: &VitResults, title: &str, cell: &dyn Fn(&Row) -> String) -> String {
    let grids = &results.config.grids;
    let mut s = format!("{title}\n\n| method |");
    for &side in grids {
        write!(s, " {} |", grid(side)).unwrap();
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(grids.len()));
    s.push('\n');
    for method in Method::ALL {
        write!(s, "| {} |", method.name()).unwrap();
        for &side in grids {
            let text = results.row(method, side).map_or("-".into(), cell);
            write!(s, " {text} |").unwrap();
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The summary: what ran, the tables, what each method is, and the verdict.
pub fn markdown(results: &VitResults) -> String {
    let c = &results.config;
    let n = results.seeds.len();
    let seeds: Vec<String> = results.seeds.iter().map(u64::to_string).collect();
    let train = c.train_grid;
    let images: Vec<String> = c
        .grids
        .iter()
        .map(|&side| format!("{} at {}", c.eval_images_at(side), grid(side)))
        .collect();
    let mut out = format!(
        "ViT: {} layer(s), d_model {}, {} heads of dim {}, d_ff {}, mean pooling (no CLS token); \
         2-D axial RoPE θ = {} (or learned absolute embeddings). Trained {} AdamW steps × {} \
         images on {} grids from seeds {}: one RoPE and one learned-embedding model per seed, on \
         the same images. Task: which way the strokes run (horizontal, vertical, diagonal or \
         anti-diagonal: a patch repeats the colour of its neighbour along the stroke with \
         probability {}, {} colours; {CLASSES} balanced classes, chance {:.1} %). Every cell is \
         the mean ± sample std over the {n} seeds, on the same images per grid for every method \
         and seed ({}; min–max in the CSV).\n\n",
        c.n_layers,
        c.d_model,
        c.n_heads,
        c.d_model / c.n_heads,
        c.d_ff,
        c.theta,
        c.steps,
        c.batch_size,
        grid(train),
        seeds.join(", "),
        c.keep,
        c.colours,
        100.0 / CLASSES as f64,
        images.join(", "),
    );
    let fit: Vec<String> = results
        .train_accuracy
        .iter()
        .map(|(e, acc)| {
            let name = match e {
                Encoding::Rope2d => "RoPE",
                Encoding::Learned => "learned embeddings",
            };
            format!(
                "{name} {} %",
                Spread::of(acc.iter().copied()).show(100.0, 1)
            )
        })
        .collect();
    writeln!(
        out,
        "Training accuracy over the last steps: {}.\n",
        fit.join(", ")
    )
    .unwrap();
    out += &table(
        results,
        &format!("**Accuracy** (%, trained on {})", grid(train)),
        &|r| r.accuracy().show(100.0, 1),
    );
    out += &table(
        results,
        &format!("**Loss** (cross-entropy, nats; trained on {})", grid(train)),
        &|r| r.loss().show(1.0, 3),
    );
    for method in Method::ALL {
        writeln!(out, "- `{}`: {}", method.name(), method.describe()).unwrap();
    }
    out += "\n**Verdict**\n\n";
    out += &super::verdict::verdict(results);
    out
}

/// The CSV: one line per method and grid.
pub fn csv(results: &VitResults) -> String {
    let mut out = String::from(
        "method,grid,loss,accuracy,loss_std,loss_min,loss_max,accuracy_std,accuracy_min,\
         accuracy_max,seeds,images,train_grid,side_ratio\n",
    );
    let num = |x: f64| format!("{x:.5}");
    let stats = |s: Spread| format!("{},{},{}", num(s.std), num(s.min), num(s.max));
    let c = &results.config;
    for r in &results.rows {
        let (loss, acc) = (r.loss(), r.accuracy());
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            r.method.name(),
            r.grid,
            num(loss.mean),
            num(acc.mean),
            stats(loss),
            stats(acc),
            loss.n,
            c.eval_images_at(r.grid),
            c.train_grid,
            r.grid as f64 / c.train_grid as f64,
        )
        .unwrap();
    }
    out
}

/// The plots: accuracy and loss against the grid side, a line per method with its min–max band
/// over the seeds; `(file name, svg, what it shows)`.
fn plots(results: &VitResults) -> Vec<(&'static str, String, String)> {
    let train = results.config.train_grid;
    // Chance: a uniform guess over the classes, as an accuracy (%) and as a loss.
    let chance = |accuracy: bool| match accuracy {
        true => 100.0 / CLASSES as f64,
        false => (CLASSES as f64).ln(),
    };
    let chart = |title: &str, y: &str, accuracy: bool, f: &dyn Fn(&Row) -> Spread| {
        let mut chart = LineChart::new(title)
            .x_label(format!("grid side, patches (trained on {})", grid(train)))
            .y_label(y)
            .log_x(true)
            .reference("chance", chance(accuracy));
        if accuracy {
            chart = chart.y_range(0.0, 100.0);
        }
        for method in Method::ALL {
            let points = results.rows.iter().filter(|r| r.method == method).map(|r| {
                let s = f(r);
                (r.grid as f64, s.mean, s.min, s.max)
            });
            chart = chart.series_with_band(method.name(), points);
        }
        chart.to_svg()
    };
    let percent = |s: Spread| Spread {
        mean: 100.0 * s.mean,
        min: 100.0 * s.min,
        max: 100.0 * s.max,
        ..s
    };
    vec![
        (
            "accuracy.svg",
            chart(
                "ViT accuracy on grids larger than the training one",
                "accuracy (%)",
                true,
                &|r| percent(r.accuracy()),
            ),
            "accuracy against grid side, one line per method (mean over seeds, band: min–max)"
                .into(),
        ),
        (
            "loss.svg",
            chart(
                "ViT loss on grids larger than the training one",
                "cross-entropy (nats)",
                false,
                &|r| r.loss(),
            ),
            "loss against grid side, one line per method (mean over seeds, band: min–max)".into(),
        ),
    ]
}

/// Writes `results.md`, `vit_bench.csv`, `accuracy.svg` and `loss.svg` into `dir` (created if
/// missing), each whole or not at all; returns their paths with what each holds.
pub fn write_outputs(results: &VitResults, dir: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut files = vec![
        (
            "results.md",
            markdown(results),
            "the tables and the verdict".to_string(),
        ),
        (
            "vit_bench.csv",
            csv(results),
            format!(
                "one line per method and grid ({})",
                list(&results.config.grids)
            ),
        ),
    ];
    files.extend(plots(results));
    let mut written = Vec::new();
    for (name, contents, what) in files {
        let path = dir.join(name);
        write_atomic(&path, &contents)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push((path, what));
    }
    Ok(written)
}
