//! A tiny dependency-free SVG line chart: named series of `(x, y)` points with optional
//! shaded bands (spreads), axis labels, an optional log₂ x axis (for context lengths).
//!
//! ```
//! use burn_rotary_suite::plot::LineChart;
//!
//! let svg = LineChart::new("retrieval accuracy")
//!     .x_label("context length")
//!     .y_label("accuracy")
//!     .log_x(true)
//!     .series("plain", [(64.0, 1.0), (128.0, 0.4), (256.0, 0.1)])
//!     .series("yarn x4", [(64.0, 1.0), (128.0, 0.9), (256.0, 0.7)])
//!     .to_svg();
//! assert!(svg.starts_with("<svg"));
//! ```

mod axis;
mod heatmap;
mod svg;

use std::path::Path;

use axis::{decimals, Range};
use svg::{escape, marker, text};

pub use heatmap::{heatmap_svg, Panel};

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 180.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
const COLORS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// One named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// The points, drawn in order.
    pub points: Vec<(f64, f64)>,
    /// An optional band around the line, `(x, low, high)` (e.g. min–max over seeds), drawn
    /// shaded.
    pub band: Vec<(f64, f64, f64)>,
}

/// A line chart; build it with the setters, then [`LineChart::to_svg`] or [`LineChart::save`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    log_x: bool,
    /// A fixed y range, instead of the data's extent.
    y_range: Option<(f64, f64)>,
    /// Dashed horizontal reference lines `(label, y)` (e.g. chance).
    references: Vec<(String, f64)>,
    series: Vec<Series>,
}

impl LineChart {
    /// An empty chart titled `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// Sets the x axis label.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Sets the y axis label.
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Log₂ x axis (points with `x <= 0` are then left out).
    pub fn log_x(mut self, log_x: bool) -> Self {
        self.log_x = log_x;
        self
    }

    /// Fixes the y axis to `lo..hi` (widened to take in every point, band and reference line),
    /// so that a small difference is not drawn as a cliff: e.g. `0..1` for an accuracy.
    pub fn y_range(mut self, lo: f64, hi: f64) -> Self {
        self.y_range = Some((lo, hi));
        self
    }

    /// Adds a dashed horizontal line at `y`, labelled (e.g. `"chance", ln(vocab)`).
    pub fn reference(mut self, label: impl Into<String>, y: f64) -> Self {
        self.references.push((label.into(), y));
        self
    }

    /// Adds a line.
    pub fn series(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
            band: Vec::new(),
        });
        self
    }

    /// Adds a line `(x, y)` with a shaded band `(x, low, high)` around it.
    pub fn series_with_band(
        mut self,
        name: impl Into<String>,
        points: impl IntoIterator<Item = (f64, f64, f64, f64)>,
    ) -> Self {
        let (points, band) = points
            .into_iter()
            .map(|(x, y, lo, hi)| ((x, y), (x, lo, hi)))
            .unzip();
        self.series.push(Series {
            name: name.into(),
            points,
            band,
        });
        self
    }

    /// The drawable band of a series, in axis space: `(x, low, high)`.
    fn drawable_band<'a>(
        &'a self,
        series: &'a Series,
    ) -> impl Iterator<Item = (f64, f64, f64)> + 'a {
        series
            .band
            .iter()
            .filter(|(_, lo, hi)| lo.is_finite() && hi.is_finite())
            .filter_map(|&(x, lo, hi)| Some((self.axis_x(x)?, lo, hi)))
    }

    /// Writes the SVG to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_svg())
    }

    /// The x coordinate in axis space (log₂ when `log_x`); `None` if it cannot be drawn.
    fn axis_x(&self, x: f64) -> Option<f64> {
        let x = match self.log_x {
            true if x > 0.0 => x.log2(),
            true => return None,
            false => x,
        };
        x.is_finite().then_some(x)
    }

    /// The drawable points of a series, in axis space.
    fn drawable<'a>(&'a self, series: &'a Series) -> impl Iterator<Item = (f64, f64)> + 'a {
        series
            .points
            .iter()
            .filter(|(_, y)| y.is_finite())
            .filter_map(|&(x, y)| Some((self.axis_x(x)?, y)))
    }

    /// Renders the chart.
    pub fn to_svg(&self) -> String {
        let points = || self.series.iter().flat_map(|s| self.drawable(s));
        let band_ys = || {
            self.series
                .iter()
                .flat_map(|s| self.drawable_band(s))
                .flat_map(|(_, lo, hi)| [lo, hi])
        };
        let x_range = Range::of(points().map(|(x, _)| x), 0.0);
        let references = self.references.iter().filter(|(_, y)| y.is_finite());
        let ys = || {
            points()
                .map(|(_, y)| y)
                .chain(band_ys())
                .chain(references.clone().map(|&(_, y)| y))
        };
        let y_range = match self.y_range {
            Some((lo, hi)) => Range::of(ys().chain([lo, hi]), 0.0),
            None => Range::of(ys(), 0.05),
        };
        let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
        let px = |x: f64| x0 + x_range.fraction(x) * (x1 - x0);
        let py = |y: f64| y0 + y_range.fraction(y) * (y1 - y0);

        let mut svg = String::new();
        let mut line = |s: String| {
            svg.push_str(&s);
            svg.push('\n');
        };
        line(format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        ));
        line(r#"<rect width="100%" height="100%" fill="white"/>"#.into());
        line(text(
            (x0 + x1) / 2.0,
            24.0,
            "middle",
            &self.title,
            r#" font-size="15""#,
        ));
        let y_ticks = y_range.ticks(false);
        let y_decimals = decimals(&y_ticks);
        for &y in &y_ticks {
            line(format!(
                r##"<line x1="{x0}" x2="{x1}" y1="{0:.1}" y2="{0:.1}" stroke="#e5e5e5"/>"##,
                py(y)
            ));
            line(text(
                x0 - 6.0,
                py(y) + 4.0,
                "end",
                &format!("{y:.y_decimals$}"),
                "",
            ));
        }
        let x_ticks = x_range.ticks(self.log_x);
        let x_decimals = if self.log_x { 0 } else { decimals(&x_ticks) };
        for &x in &x_ticks {
            let label = match self.log_x {
                true => format!("{}", x.exp2()),
                false => format!("{x:.x_decimals$}"),
            };
            line(format!(
                r##"<line x1="{0:.1}" x2="{0:.1}" y1="{y0}" y2="{1}" stroke="black"/>"##,
                px(x),
                y0 + 4.0
            ));
            line(text(px(x), y0 + 17.0, "middle", &label, ""));
        }
        line(format!(
            r#"<path d="M{x0},{y1} L{x0},{y0} L{x1},{y0}" stroke="black" fill="none"/>"#
        ));
        line(text(
            (x0 + x1) / 2.0,
            HEIGHT - 12.0,
            "middle",
            &self.x_label,
            "",
        ));
        line(format!(
            r#"<text transform="translate(18,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            (y0 + y1) / 2.0,
            escape(&self.y_label)
        ));
        for (label, y) in references {
            line(format!(
                r##"<line x1="{x0}" x2="{x1}" y1="{0:.1}" y2="{0:.1}" stroke="#555" stroke-dasharray="6,4"/>"##,
                py(*y)
            ));
            line(text(
                x1 - 4.0,
                py(*y) - 5.0,
                "end",
                label,
                r##" fill="#555""##,
            ));
        }
        for (i, series) in self.series.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            // Lines that overlap stay visible: later lines are thinner and every other one
            // dashed, and each series has its own marker shape.
            let width = 3.0 - 1.5 * i as f64 / self.series.len().max(1) as f64;
            let dash = if i % 2 == 1 {
                r#" stroke-dasharray="7,3""#
            } else {
                ""
            };
            let band: Vec<(f64, f64, f64)> = self.drawable_band(series).collect();
            if band.len() > 1 {
                let upper = band.iter().map(|&(x, _, hi)| (px(x), py(hi)));
                let lower = band.iter().rev().map(|&(x, lo, _)| (px(x), py(lo)));
                let outline: Vec<String> = upper
                    .chain(lower)
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect();
                line(format!(
                    r#"<polygon points="{}" fill="{color}" fill-opacity="0.1" stroke="none"/>"#,
                    outline.join(" ")
                ));
            }
            let coords: Vec<(f64, f64)> =
                self.drawable(series).map(|(x, y)| (px(x), py(y))).collect();
            let path: Vec<String> = coords
                .iter()
                .map(|(x, y)| format!("{x:.1},{y:.1}"))
                .collect();
            line(format!(
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="{width:.2}"{dash}/>"#,
                path.join(" ")
            ));
            if coords.len() <= 40 {
                for &(x, y) in &coords {
                    line(marker(i, x, y, color));
                }
            }
            let ly = TOP + 10.0 + 20.0 * i as f64;
            line(format!(
                r#"<line x1="{}" x2="{}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="{width:.2}"{dash}/>"#,
                x1 + 14.0,
                x1 + 36.0
            ));
            line(marker(i, x1 + 25.0, ly, color));
            line(text(x1 + 42.0, ly + 4.0, "start", &series.name, ""));
        }
        line("</svg>".into());
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        let r = Range { lo: 0.13, hi: 3.9 };
        assert_eq!(r.ticks(false), vec![1.0, 2.0, 3.0]);
        assert_eq!(
            Range { lo: 0.0, hi: 100.0 }.ticks(false),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        let octaves = Range { lo: 6.0, hi: 14.0 };
        assert_eq!(
            octaves.ticks(true),
            (6..=14).map(f64::from).collect::<Vec<_>>()
        );
    }

    #[test]
    fn log_x_drops_non_positive_and_labels_powers_of_two() {
        let svg = LineChart::new("t <1>")
            .log_x(true)
            .series(
                "a&b",
                [(0.0, 1.0), (64.0, 1.0), (1024.0, f64::NAN), (4096.0, 2.0)],
            )
            .to_svg();
        assert!(svg.contains(">4096<") && svg.contains(">64<"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("a&amp;b"));
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "2 points + the legend's marker"
        );
    }

    #[test]
    fn bands_are_shaded_and_widen_the_y_range() {
        let svg = LineChart::new("t")
            .series_with_band("a", [(1.0, 1.0, 0.5, 1.5), (2.0, 2.0, 1.0, 9.0)])
            .to_svg();
        assert_eq!(svg.matches("<polygon").count(), 1);
        assert!(svg.contains(">8<"), "the band's top sets the y range");
    }

    #[test]
    fn tick_labels_share_their_decimals() {
        assert_eq!(decimals(&[0.0, 0.5, 1.0, 1.5]), 1);
        assert_eq!(decimals(&[0.0, 20.0, 40.0]), 0);
        assert_eq!(decimals(&[0.02, 0.04]), 2);
        let svg = LineChart::new("t")
            .series("a", [(0.0, 0.0), (1.0, 1.5)])
            .to_svg();
        assert!(svg.contains(">0.5<") && svg.contains(">1.0<") && !svg.contains(">1<"));
    }

    #[test]
    fn fixed_range_and_reference_line() {
        let svg = LineChart::new("t")
            .y_range(0.0, 1.0)
            .reference("chance", 0.25)
            .series("a", [(0.0, 0.9), (1.0, 0.92)])
            .to_svg();
        assert!(svg.contains("viewBox=\"0 0 760 440\""));
        assert!(svg.contains("stroke-dasharray=\"6,4\"") && svg.contains(">chance<"));
        assert!(
            svg.contains(">0.0<") && svg.contains(">1.0<"),
            "the fixed range is drawn"
        );
    }
}
