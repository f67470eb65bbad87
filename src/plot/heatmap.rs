//! Heatmap panels: one grid per series, each cell shaded by a fraction in `0..=1` and labelled
//! with it in percent.

use std::fmt::Write as _;

/// One panel: its name and its cells, `cells[row][column]` in `0..=1` (NaN: not measured).
pub struct Panel {
    /// The panel's title.
    pub name: String,
    /// Fractions by row, then column.
    pub cells: Vec<Vec<f64>>,
}

/// An SVG of `panels` side by side (4 per line), rows labelled `rows`, columns `columns`.
pub fn heatmap_svg(title: &str, rows: &[String], columns: &[String], panels: &[Panel]) -> String {
    const CELL: f64 = 34.0;
    const PANEL_GAP: f64 = 30.0;
    const PER_LINE: usize = 4;
    let (nx, ny) = (columns.len(), rows.len());
    let panel_w = 50.0 + CELL * nx as f64;
    let panel_h = 40.0 + CELL * ny as f64 + 20.0;
    let lines = panels.len().div_ceil(PER_LINE);
    let width = PANEL_GAP + PER_LINE.min(panels.len()) as f64 * (panel_w + PANEL_GAP);
    let height = 50.0 + lines as f64 * (panel_h + PANEL_GAP);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="10">"#
    );
    svg.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
    write!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{title}</text>"#,
        width / 2.0
    )
    .unwrap();
    for (i, panel) in panels.iter().enumerate() {
        let x0 = PANEL_GAP + (i % PER_LINE) as f64 * (panel_w + PANEL_GAP);
        let y0 = 50.0 + (i / PER_LINE) as f64 * (panel_h + PANEL_GAP);
        write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="12">{}</text>"#,
            x0 + 50.0 + CELL * nx as f64 / 2.0,
            y0 + 12.0,
            panel.name
        )
        .unwrap();
        for (r, label) in rows.iter().enumerate() {
            let y = y0 + 20.0 + CELL * r as f64;
            write!(
                svg,
                r#"<text x="{}" y="{}" text-anchor="end">{label}</text>"#,
                x0 + 46.0,
                y + CELL / 2.0 + 3.0
            )
            .unwrap();
            for c in 0..nx {
                let x = x0 + 50.0 + CELL * c as f64;
                let value = panel
                    .cells
                    .get(r)
                    .and_then(|row| row.get(c))
                    .copied()
                    .unwrap_or(f64::NAN);
                let (fill, label) = if value.is_finite() {
                    // White (0 %) to dark blue (100 %).
                    let t = value.clamp(0.0, 1.0);
                    let channel = |hi: f64, lo: f64| (hi + (lo - hi) * t).round() as u8;
                    (
                        format!(
                            "rgb({},{},{})",
                            channel(255.0, 8.0),
                            channel(255.0, 48.0),
                            channel(255.0, 107.0)
                        ),
                        format!("{:.0}", 100.0 * value),
                    )
                } else {
                    ("#ddd".to_string(), "-".to_string())
                };
                let ink = if value > 0.55 { "white" } else { "black" };
                write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{y:.1}" width="{CELL}" height="{CELL}" fill="{fill}" stroke="#fff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}">{label}</text>"##,
                    x + CELL / 2.0,
                    y + CELL / 2.0 + 3.0
                )
                .unwrap();
            }
        }
        for (c, label) in columns.iter().enumerate() {
            write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
                x0 + 50.0 + CELL * (c as f64 + 0.5),
                y0 + 20.0 + CELL * ny as f64 + 12.0
            )
            .unwrap();
        }
    }
    svg.push_str("</svg>\n");
    svg
}
