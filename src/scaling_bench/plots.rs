//! The benchmark's SVG plots: loss against context length and against position (lines with
//! min–max bands over seeds), retrieval accuracy against length, and a retrieval heatmap
//! (depth × length) per method.

use std::path::{Path, PathBuf};

use super::eval::buckets;
use super::report::{write_atomic, Spread};
use super::{BenchResults, Row, TaskKind};
use crate::plot::{heatmap_svg, LineChart, Panel};

/// Writes the plots into `dir` (each whole or not at all); returns their paths with what each
/// shows.
pub fn write_plots(results: &BenchResults, dir: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let l = results.train_len;
    let longest = *results.lengths.last().unwrap_or(&l);
    let mut out = Vec::new();
    let mut save = |name: &str, svg: String, what: String| -> std::io::Result<()> {
        let path = dir.join(name);
        write_atomic(&path, &svg)?;
        out.push((path, what));
        Ok(())
    };
    // Chance: uniform over the 256 bytes (loss), over the values of a record (accuracy).
    let byte_chance = (crate::data::ByteText::VOCAB_SIZE as f64).ln();
    let by_length = |task: TaskKind, title: &str, y: &str, f: &dyn Fn(&Row) -> Spread| {
        let mut chart = LineChart::new(title)
            .x_label(format!("context length (trained at {l})"))
            .y_label(y)
            .log_x(true);
        chart = match (task, results.retrieval) {
            (TaskKind::Text, _) => chart.reference("chance (uniform bytes)", byte_chance),
            (TaskKind::Retrieval, Some(r)) => chart
                .y_range(0.0, 100.0)
                .reference("chance", 100.0 / r.n_values as f64),
            (TaskKind::Retrieval, None) => chart.y_range(0.0, 100.0),
        };
        for method in results.methods(task) {
            let points = results
                .rows
                .iter()
                .filter(|r| r.task == task && r.method == method)
                .map(|r| {
                    let s = f(r);
                    (r.length as f64, s.mean, s.min, s.max)
                });
            chart = chart.series_with_band(method, points);
        }
        chart.to_svg()
    };
    if results.has(TaskKind::Text) {
        save(
            "loss.svg",
            by_length(
                TaskKind::Text,
                "Held-out text loss beyond the training context",
                "loss (nats per byte)",
                &|r| r.loss(),
            ),
            "text loss against context length, one line per method (mean over seeds, band: \
             min–max)"
                .into(),
        )?;
        let bounds = buckets(l, longest);
        let mut chart = LineChart::new(format!("Loss by position in {longest}-token sequences"))
            .x_label(format!("position (bucket end; trained at {l})"))
            .y_label("loss (nats per byte)")
            .log_x(true)
            .reference("chance (uniform bytes)", byte_chance);
        for method in results.methods(TaskKind::Text) {
            if let Some(row) = results.row(TaskKind::Text, method, longest) {
                let points = bounds.iter().enumerate().map(|(b, &(_, hi))| {
                    let s = row.bucket_loss(b);
                    (hi as f64, s.mean, s.min, s.max)
                });
                chart = chart.series_with_band(method, points);
            }
        }
        save(
            "loss_by_position.svg",
            chart.to_svg(),
            format!(
                "text loss by position bucket within the {longest}-token sequences: where each \
                 method breaks (band: min–max over seeds)"
            ),
        )?;
    }
    if results.has(TaskKind::Retrieval) {
        save(
            "accuracy.svg",
            by_length(
                TaskKind::Retrieval,
                "Retrieval accuracy beyond the training context",
                "accuracy (%)",
                &|r| {
                    let s = r.accuracy();
                    Spread {
                        mean: 100.0 * s.mean,
                        min: 100.0 * s.min,
                        max: 100.0 * s.max,
                        ..s
                    }
                },
            ),
            "retrieval accuracy (mean over depths) against context length (band: min–max over \
             seeds)"
                .into(),
        )?;
        save(
            "accuracy_heatmap.svg",
            heatmaps(results),
            "retrieval accuracy by key depth × context length, one panel per method (mean over \
             seeds)"
                .into(),
        )?;
    }
    Ok(out)
}

/// One panel per retrieval method: rows are key depths, columns lengths, each cell shaded by
/// the mean accuracy and labelled with it.
fn heatmaps(results: &BenchResults) -> String {
    let panels: Vec<Panel> = results
        .methods(TaskKind::Retrieval)
        .into_iter()
        .map(|method| Panel {
            name: method.to_string(),
            cells: (0..results.depths.len())
                .map(|d| {
                    results
                        .lengths
                        .iter()
                        .map(|&len| {
                            results
                                .row(TaskKind::Retrieval, method, len)
                                .map_or(f64::NAN, |r| r.depth_accuracy(d).mean)
                        })
                        .collect()
                })
                .collect(),
        })
        .collect();
    let title = format!(
        "Retrieval accuracy (%) by key depth (rows) and context length (columns), trained at {}",
        results.train_len
    );
    let rows: Vec<String> = results.depths.iter().map(|d| d.to_string()).collect();
    let columns: Vec<String> = results.lengths.iter().map(|l| l.to_string()).collect();
    heatmap_svg(&title, &rows, &columns, &panels)
}
