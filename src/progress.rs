//! The progress bar the benchmarks show over a whole run.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over the whole run, with its ETA; hidden unless `visible`. Its length is set by the
/// caller once the work is known.
pub fn run_bar(visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{bar:30.cyan/blue} {percent:>3}% [{elapsed_precise} < {eta_precise}] {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ");
    ProgressBar::new(1).with_style(style)
}
