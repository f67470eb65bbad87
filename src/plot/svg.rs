//! The SVG elements the charts are drawn with.

use std::fmt::Write;

/// Marker `i` (circle, square, triangle, diamond, in turn) centred on `(x, y)`.
pub(super) fn marker(i: usize, x: f64, y: f64, color: &str) -> String {
    let r = 3.5;
    match i % 4 {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{color}"/>"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{}" height="{}" fill="{color}"/>"#,
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        2 => format!(
            r#"<polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{color}"/>"#,
            x,
            y - r - 1.0,
            x - r - 0.5,
            y + r,
            x + r + 0.5,
            y + r
        ),
        _ => format!(
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="none" stroke="{color}" stroke-width="1.5"/>"#,
            y - r - 1.0,
            x + r + 1.0,
            y + r + 1.0,
            x - r - 1.0
        ),
    }
}

pub(super) fn text(x: f64, y: f64, anchor: &str, content: &str, extra: &str) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}"{extra}>{}</text>"#,
        escape(content)
    );
    s
}

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
