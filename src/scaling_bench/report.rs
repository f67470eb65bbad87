//! The benchmark's outputs: a markdown summary, a CSV and SVG plots.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{BenchResults, Row};
use crate::plot::LineChart;

/// Loss differences below this (nats) are called a tie in the verdicts.
const LOSS_TIE: f64 = 0.01;

impl BenchResults {
    /// The methods in row order, each once.
    pub fn methods(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !names.contains(&row.method.as_str()) {
                names.push(&row.method);
            }
        }
        names
    }

    /// The scored lengths, ascending.
    pub fn lengths(&self) -> Vec<usize> {
        let mut lengths: Vec<usize> = self.rows.iter().map(|r| r.length).collect();
        lengths.sort_unstable();
        lengths.dedup();
        lengths
    }

    /// The row of `method` at `length`.
    pub fn row(&self, method: &str, length: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.method == method && r.length == length)
    }
}

/// Writes `scaling.csv`: one line per method and length.
pub fn write_csv(results: &BenchResults, dir: &Path) -> std::io::Result<PathBuf> {
    let depth_columns: Vec<String> = results
        .depths
        .iter()
        .map(|d| format!("accuracy_depth_{:.0}", 100.0 * d))
        .collect();
    let mut csv = format!(
        "method,length,factor,loss,perplexity,accuracy,{}rope_init_us,rope_forward_ms,note\n",
        depth_columns
            .iter()
            .map(|c| format!("{c},"))
            .collect::<String>()
    );
    for r in &results.rows {
        let accuracy = r
            .score
            .accuracy()
            .map_or(String::new(), |a| format!("{a:.4}"));
        let depths: String = if results.retrieval {
            r.score
                .depth_accuracy
                .iter()
                .map(|a| format!("{a:.4},"))
                .collect()
        } else {
            ",".repeat(results.depths.len())
        };
        writeln!(
            csv,
            "{},{},{},{:.5},{:.4},{accuracy},{depths}{:.1},{:.4},{}",
            r.method,
            r.length,
            r.factor,
            r.score.loss,
            r.score.loss.exp(),
            r.cost.init_us,
            r.cost.forward_ms,
            r.note
        )
        .expect("write to String");
    }
    let path = dir.join("scaling.csv");
    std::fs::write(&path, csv)?;
    Ok(path)
}

/// Writes `accuracy.svg` (retrieval tasks) and `loss.svg`: the metric against context length,
/// one line per method. Returns the paths.
pub fn write_plots(results: &BenchResults, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let chart = |title: &str, y: &str, metric: &dyn Fn(&Row) -> Option<f64>| {
        let mut chart = LineChart::new(title)
            .x_label(format!("context length (trained at {})", results.train_len))
            .y_label(y)
            .log_x(true);
        for method in results.methods() {
            let points = results
                .rows
                .iter()
                .filter(|r| r.method == method)
                .filter_map(|r| Some((r.length as f64, metric(r)?)));
            chart = chart.series(method, points);
        }
        chart
    };
    let mut paths = Vec::new();
    if results.retrieval {
        let path = dir.join("accuracy.svg");
        chart(
            "Retrieval accuracy beyond the training context",
            "accuracy (%)",
            &|r| r.score.accuracy().map(|a| 100.0 * a),
        )
        .save(&path)?;
        paths.push(path);
    }
    let path = dir.join("loss.svg");
    chart(
        "Next-token loss beyond the training context",
        "loss (nats)",
        &|r| Some(r.score.loss),
    )
    .save(&path)?;
    paths.push(path);
    Ok(paths)
}

/// The summary: accuracy, loss and cost tables, and what they show.
pub fn markdown(results: &BenchResults) -> String {
    let lengths = results.lengths();
    let methods = results.methods();
    let header = |first: &str| {
        let mut s = format!("| {first} |");
        for len in &lengths {
            write!(s, " {len} |").unwrap();
        }
        s.push_str("\n|---|");
        s.push_str(&"---:|".repeat(lengths.len()));
        s.push('\n');
        s
    };
    let table = |title: &str, cell: &dyn Fn(&Row) -> String| {
        let mut s = format!("{title}\n\n{}", header("method"));
        for method in &methods {
            write!(s, "| {method} |").unwrap();
            for &len in &lengths {
                let text = results.row(method, len).map_or(String::from("-"), cell);
                write!(s, " {text} |").unwrap();
            }
            s.push('\n');
        }
        s.push('\n');
        s
    };

    let mut out = format!(
        "Model trained at {} tokens ({}); scored at {:?}.\n\n",
        results.train_len, results.model_source, lengths
    );
    if results.retrieval {
        let depths: Vec<String> = results.depths.iter().map(|d| format!("{d}")).collect();
        out += &table(
            &format!(
                "**Retrieval accuracy** (%, mean over key depths {})",
                depths.join(", ")
            ),
            &|r| format!("{:.1}", 100.0 * r.score.accuracy().unwrap_or(f64::NAN)),
        );
    }
    out += &table("**Loss** (nats per token, whole sequence)", &|r| {
        format!("{:.3}", r.score.loss)
    });
    out += &table(
        "**Cost**: RoPE q+k forward, ms (and building the module, µs, at the longest length)",
        &|r| format!("{:.3}", r.cost.forward_ms),
    );
    let longest = lengths.last().copied().unwrap_or(0);
    out += "| method | build µs | notes |\n|---|---:|---|\n";
    for method in &methods {
        if let Some(r) = results.row(method, longest) {
            let notes: Vec<&str> = results
                .rows
                .iter()
                .filter(|x| x.method == *method && !x.note.is_empty())
                .map(|x| x.note.as_str())
                .collect();
            let mut notes = notes;
            notes.dedup();
            writeln!(
                out,
                "| {method} | {:.0} | {} |",
                r.cost.init_us,
                notes.join("; ")
            )
            .unwrap();
        }
    }
    out += "\n**What it shows**\n\n";
    out += &verdicts(results);
    out
}

/// One line per length beyond training: the best method, and whether it beats plain RoPE.
fn verdicts(results: &BenchResults) -> String {
    let uniform = (results.vocab_size as f64).ln();
    let mut out = format!(
        "- A uniform guess over the {} tokens scores {uniform:.3} nats: a loss near it means the \
         model has stopped predicting, one above it that it predicts confidently and wrongly.\n",
        results.vocab_size
    );
    for len in results
        .lengths()
        .into_iter()
        .filter(|&l| l > results.train_len)
    {
        let rows: Vec<&Row> = results.rows.iter().filter(|r| r.length == len).collect();
        let Some(none) = results.row("none", len) else {
            continue;
        };
        let by_loss = rows
            .iter()
            .min_by(|a, b| a.score.loss.total_cmp(&b.score.loss))
            .expect("rows");
        let mut line = format!("- {len} tokens: ");
        if let (Some(best_acc), true) = (
            rows.iter().max_by(|a, b| {
                let key = |r: &&&Row| (r.score.accuracy().unwrap_or(0.0), -r.score.loss);
                key(a).partial_cmp(&key(b)).expect("finite")
            }),
            results.retrieval,
        ) {
            let (a, a0) = (
                best_acc.score.accuracy().unwrap_or(0.0),
                none.score.accuracy().unwrap_or(0.0),
            );
            if a > a0 {
                let tied = rows
                    .iter()
                    .filter(|r| r.score.accuracy().unwrap_or(0.0) == a)
                    .count();
                let ties = if tied > 1 {
                    format!(", tied with {} others; lowest loss among them", tied - 1)
                } else {
                    String::new()
                };
                write!(
                    line,
                    "best retrieval {} ({:.1}% vs {:.1}% without scaling{ties}); ",
                    best_acc.method,
                    100.0 * a,
                    100.0 * a0
                )
                .unwrap();
            } else {
                write!(
                    line,
                    "no method retrieves better than plain RoPE ({:.1}%); ",
                    100.0 * a0
                )
                .unwrap();
            }
        }
        if by_loss.score.loss < none.score.loss - LOSS_TIE {
            write!(
                line,
                "lowest loss {} ({:.3} vs {:.3}).",
                by_loss.method, by_loss.score.loss, none.score.loss
            )
            .unwrap();
        } else {
            write!(
                line,
                "no method lowers the loss below plain RoPE's {:.3}.",
                none.score.loss
            )
            .unwrap();
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}
