//! The benchmark's SVG plots: loss against context length and against position (lines with
//! min–max bands over seeds), retrieval accuracy against length, and a retrieval heatmap
//! (depth × length) per method.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::eval::buckets;
use super::report::{write_atomic, Spread};
use super::{BenchResults, Row, TaskKind};
use crate::plot::LineChart;

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
    const CELL: f64 = 34.0;
    const PANEL_GAP: f64 = 30.0;
    const COLUMNS: usize = 4;
    let methods = results.methods(TaskKind::Retrieval);
    let (nx, ny) = (results.lengths.len(), results.depths.len());
    let panel_w = 50.0 + CELL * nx as f64;
    let panel_h = 40.0 + CELL * ny as f64 + 20.0;
    let rows = methods.len().div_ceil(COLUMNS);
    let width = PANEL_GAP + COLUMNS.min(methods.len()) as f64 * (panel_w + PANEL_GAP);
    let height = 50.0 + rows as f64 * (panel_h + PANEL_GAP);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">"#
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    write!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">Retrieval accuracy (%) by key depth (rows) and context length (columns), trained at {}</text>"#,
        width / 2.0,
        results.train_len
    )
    .unwrap();
    for (i, method) in methods.iter().enumerate() {
        let x0 = PANEL_GAP + (i % COLUMNS) as f64 * (panel_w + PANEL_GAP);
        let y0 = 50.0 + (i / COLUMNS) as f64 * (panel_h + PANEL_GAP);
        write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="12">{method}</text>"#,
            x0 + 50.0 + CELL * nx as f64 / 2.0,
            y0 + 12.0
        )
        .unwrap();
        for (d, depth) in results.depths.iter().enumerate() {
            let y = y0 + 20.0 + CELL * d as f64;
            write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{depth}</text>"#,
                x0 + 46.0,
                y + CELL / 2.0 + 3.0
            )
            .unwrap();
            for (c, &len) in results.lengths.iter().enumerate() {
                let x = x0 + 50.0 + CELL * c as f64;
                let acc = results
                    .row(TaskKind::Retrieval, method, len)
                    .map_or(f64::NAN, |r| r.depth_accuracy(d).mean);
                let (fill, label) = if acc.is_finite() {
                    // White (0 %) to dark blue (100 %).
                    let t = acc.clamp(0.0, 1.0);
                    let channel = |hi: f64, lo: f64| (hi + (lo - hi) * t).round() as u8;
                    (
                        format!(
                            "rgb({},{},{})",
                            channel(255.0, 8.0),
                            channel(255.0, 48.0),
                            channel(255.0, 107.0)
                        ),
                        format!("{:.0}", 100.0 * acc),
                    )
                } else {
                    ("#ddd".to_string(), "-".to_string())
                };
                let ink = if acc > 0.55 { "white" } else { "black" };
                write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{CELL}" height="{CELL}" fill="{fill}" stroke="#fff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}">{label}</text>"##,
                    x + CELL / 2.0,
                    y + CELL / 2.0 + 3.0
                )
                .unwrap();
            }
        }
        for (c, len) in results.lengths.iter().enumerate() {
            write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{len}</text>"#,
                x0 + 50.0 + CELL * (c as f64 + 0.5),
                y0 + 20.0 + CELL * ny as f64 + 12.0
            )
            .unwrap();
        }
    }
    svg.push_str("</svg>\n");
    svg
}
