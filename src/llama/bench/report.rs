//! The long-context benchmark's outputs: a CSV of every cell, markdown tables (mean ± std over
//! documents), SVG plots and a verdict against the literature.

use std::fmt::Write as _;
use std::path::Path;

use crate::plot::{heatmap_svg, LineChart, Panel};
use crate::scaling_bench::{write_atomic, Spread};
use crate::scaling_methods::Method;

use super::{BenchResults, WindowLoss, SHORT_TOKENS};

impl BenchResults {
    /// The methods in table order.
    pub fn methods(&self) -> Vec<Method> {
        let mut methods: Vec<Method> = Vec::new();
        let all = self
            .windows
            .iter()
            .map(|w| w.0)
            .chain(self.passkeys.iter().map(|p| p.0));
        for m in all {
            if !methods.contains(&m) {
                methods.push(m);
            }
        }
        methods
    }

    fn lengths(&self, passkey: bool) -> Vec<usize> {
        let mut lengths: Vec<usize> = match passkey {
            false => self.windows.iter().map(|w| w.1).collect(),
            true => self.passkeys.iter().map(|p| p.1).collect(),
        };
        lengths.sort_unstable();
        lengths.dedup();
        lengths
    }

    fn depths(&self) -> Vec<f64> {
        let mut depths: Vec<f64> = self.passkeys.iter().map(|p| p.2).collect();
        depths.sort_by(f64::total_cmp);
        depths.dedup();
        depths
    }

    /// A window statistic of `method` at `length` over the documents.
    pub fn window(&self, method: Method, length: usize, pick: fn(&WindowLoss) -> f64) -> Spread {
        Spread::of(
            self.windows
                .iter()
                .filter(|w| w.0 == method && w.1 == length)
                .map(|w| pick(&w.3)),
        )
    }

    /// Passkey accuracy (0..1) of `method` at `length` (and `depth`, if given).
    pub fn passkey(&self, method: Method, length: usize, depth: Option<f64>) -> f64 {
        let hits: Vec<f64> = self
            .passkeys
            .iter()
            .filter(|p| p.0 == method && p.1 == length && depth.is_none_or(|d| p.2 == d))
            .map(|p| f64::from(u8::from(p.4.correct)))
            .collect();
        match hits.len() {
            0 => f64::NAN,
            n => hits.iter().sum::<f64>() / n as f64,
        }
    }
}

/// Every cell, one line each.
pub fn csv(results: &BenchResults) -> String {
    let mut out = String::from(
        "kind,method,length,document,depth,trial,loss,short_loss,last_loss,key,answer,correct\n",
    );
    for (m, l, d, w) in &results.windows {
        writeln!(
            out,
            "perplexity,{m},{l},{d},,,{:.5},{:.5},{:.5},,,",
            w.loss, w.short, w.last
        )
        .unwrap();
    }
    for (m, l, depth, t, a) in &results.passkeys {
        let answer = a.answer.replace([',', '\n', '"'], " ");
        writeln!(
            out,
            "passkey,{m},{l},,{depth},{t},,,,{},{answer},{}",
            a.key, a.correct
        )
        .unwrap();
    }
    out
}

fn table(
    results: &BenchResults,
    title: &str,
    lengths: &[usize],
    cell: impl Fn(Method, usize) -> String,
) -> String {
    let mut out = format!("{title}\n\n| method |");
    for l in lengths {
        write!(out, " {l} |").unwrap();
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(lengths.len()));
    out.push('\n');
    for m in results.methods() {
        write!(out, "| {m} |").unwrap();
        for &l in lengths {
            write!(out, " {} |", cell(m, l)).unwrap();
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The markdown tables and the verdict.
pub fn markdown(results: &BenchResults) -> String {
    let lengths = results.lengths(false);
    let ppl = |m, l| {
        let s = results.window(m, l, |w| w.loss);
        Spread {
            mean: s.mean.exp(),
            std: s.std * s.mean.exp(),
            ..s
        }
        .show(1.0, 2)
    };
    let mut out = table(
        results,
        &format!(
            "**Perplexity** by context length (mean ± std over documents; s = L / {}):",
            results.train_len
        ),
        &lengths,
        ppl,
    );
    out += &table(
        results,
        "**Loss of the last quarter of each window** (nats; the tokens with the most context):",
        &lengths,
        |m, l| results.window(m, l, |w| w.last).show(1.0, 3),
    );
    out += &table(results, &format!("**Loss of the first {SHORT_TOKENS} tokens of each window** (nats; plain RoPE in range there):"), &lengths, |m, l| results.window(m, l, |w| w.short).show(1.0, 3));
    let passkey_lengths = results.lengths(true);
    if !passkey_lengths.is_empty() {
        out += &table(
            results,
            "**Passkey retrieval** (% correct, over depths and keys):",
            &passkey_lengths,
            |m, l| format!("{:.0}", 100.0 * results.passkey(m, l, None)),
        );
    }
    out += "**Verdict**\n\n";
    for line in verdict(results) {
        writeln!(out, "- {line}").unwrap();
    }
    out
}

/// The verdict against the literature, one claim a line, each with its numbers.
pub fn verdict(results: &BenchResults) -> Vec<String> {
    let l0 = results.train_len;
    let lengths = results.lengths(false);
    let (Some(&inside), Some(&far)) = (lengths.iter().filter(|&&l| l <= l0).max(), lengths.last())
    else {
        return vec!["no length at or below the trained context: nothing to compare".into()];
    };
    if far <= l0 {
        return vec![format!(
            "no window past the trained {l0} tokens: nothing to compare"
        )];
    }
    let run = results.methods();
    if !run.contains(&Method::None) {
        return vec!["plain RoPE not run: nothing to compare against".into()];
    }
    let ppl = |m, l| results.window(m, l, |w| w.loss).mean.exp();
    let base = ppl(Method::None, inside);
    let mut lines = Vec::new();
    let none = ppl(Method::None, far);
    lines.push(format!(
        "plain RoPE: perplexity {base:.2} at {inside} → {none:.2} at {far} ({:.1}×){}",
        none / base,
        agrees(
            none > 1.5 * base,
            "rises steeply past the trained context (literature)"
        )
    ));
    let short = |m| results.window(m, far, |w| w.short).mean;
    if run.contains(&Method::Linear) {
        let (pi, plain) = (short(Method::Linear), short(Method::None));
        lines.push(format!(
            "PI (linear) without fine-tuning: first-{SHORT_TOKENS}-token loss at {far} {pi:.3} vs plain RoPE's {plain:.3}{}",
            judge(pi - plain, "costs short-range quality (Chen et al. 2023)")
        ));
    }
    let near = [Method::Ntk, Method::DynamicNtk, Method::Yarn];
    for m in near.into_iter().filter(|m| run.contains(m)) {
        let p = ppl(m, far);
        lines.push(format!(
            "{m}: perplexity {p:.2} at {far} vs {base:.2} at {inside} ({:+.0} %){}",
            100.0 * (p / base - 1.0),
            agrees(
                p < 1.25 * base,
                "stays near the in-context perplexity (Peng et al. 2023 at 2×)"
            )
        ));
    }
    let mut ranked: Vec<(Method, f64)> = run.iter().copied().map(|m| (m, ppl(m, far))).collect();
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut order = String::new();
    for (i, (m, p)) in ranked.iter().enumerate() {
        if i > 0 {
            // Within TIE_NATS of the previous method: a tie, not an ordering.
            order += match p.ln() - ranked[i - 1].1.ln() > TIE_NATS {
                true => " < ",
                false => " ≈ ",
            };
        }
        write!(order, "{m} {p:.2}").unwrap();
    }
    // YaRN against the best of the others: ahead by more than a tie agrees.
    let best_other = ranked
        .iter()
        .find(|r| r.0 != Method::Yarn)
        .map_or(f64::NAN, |r| r.1);
    let yarn = match run.contains(&Method::Yarn) {
        true => judge(
            best_other.ln() - ppl(Method::Yarn, far).ln(),
            "YaRN best (Peng et al. 2023)",
        ),
        false => String::new(),
    };
    lines.push(format!(
        "ranking by perplexity at {far} ({:.1}× the trained context; ≈: within {TIE_NATS} nats): {order}{yarn}",
        far as f64 / l0 as f64,
    ));
    let passkey_lengths = results.lengths(true);
    if let Some(&longest) = passkey_lengths.last().filter(|&&l| l > l0) {
        let acc: Vec<String> = results
            .methods()
            .into_iter()
            .map(|m| format!("{m} {:.0} %", 100.0 * results.passkey(m, longest, None)))
            .collect();
        lines.push(format!("passkey at {longest}: {}", acc.join(", ")));
    }
    lines
}

fn agrees(holds: bool, claim: &str) -> String {
    match holds {
        true => format!(" — agrees: {claim}"),
        false => format!(" — DISAGREES with: {claim}"),
    }
}

/// Differences of mean loss (nats) within this are ties: about 1 % of perplexity, below what
/// one model's run-to-run choice of document moves (the quick run's scalings differ by 0.003).
pub const TIE_NATS: f64 = 0.01;

/// A claim that `margin` (nats) is positive: agrees above [`TIE_NATS`], disagrees below
/// `-TIE_NATS`, a tie in between (neither confirms nor refutes it); NaN disagrees.
fn judge(margin: f64, claim: &str) -> String {
    if margin > TIE_NATS {
        agrees(true, claim)
    } else if margin.abs() <= TIE_NATS {
        format!(" — a tie (within {TIE_NATS} nats): neither confirms nor refutes: {claim}")
    } else {
        agrees(false, claim)
    }
}

/// Writes the CSV, the tables and the plots into `dir`, each whole or not at all.
pub fn write(results: &BenchResults, dir: &Path) -> Result<(), String> {
    let save = |name: &str, text: &str| {
        write_atomic(&dir.join(name), text)
            .map_err(|e| format!("cannot write {}: {e}", dir.join(name).display()))
    };
    save("context.csv", &csv(results))?;
    save("context.md", &markdown(results))?;
    let mut chart =
        LineChart::new("SmolLM2-135M perplexity by context length (band: min–max over documents)")
            .x_label("context length (tokens)")
            .y_label("perplexity")
            .log_x(true);
    for m in results.methods() {
        let points = results.lengths(false).into_iter().map(|l| {
            let s = results.window(m, l, |w| w.loss);
            (l as f64, s.mean.exp(), s.min.exp(), s.max.exp())
        });
        chart = chart.series_with_band(m.to_string(), points.collect::<Vec<_>>());
    }
    save("perplexity.svg", &chart.to_svg())?;
    let lengths = results.lengths(true);
    if !lengths.is_empty() {
        let depths = results.depths();
        let panels: Vec<Panel> = results
            .methods()
            .into_iter()
            .map(|m| Panel {
                name: m.to_string(),
                cells: depths
                    .iter()
                    .map(|&d| {
                        lengths
                            .iter()
                            .map(|&l| results.passkey(m, l, Some(d)))
                            .collect()
                    })
                    .collect(),
            })
            .collect();
        let rows: Vec<String> = depths.iter().map(|d| format!("{d}")).collect();
        let columns: Vec<String> = lengths.iter().map(|l| l.to_string()).collect();
        save(
            "passkey.svg",
            &heatmap_svg(
                "Passkey retrieval (%) by depth (rows) and length (columns)",
                &rows,
                &columns,
                &panels,
            ),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Results at 2048 and 9216 where each method's losses are `(loss, short)` at 9216.
    fn results(at_far: &[(Method, f64, f64)]) -> BenchResults {
        let window = |loss, short| WindowLoss {
            loss,
            short,
            last: loss,
        };
        let mut windows = vec![];
        for &(m, loss, short) in at_far {
            windows.push((m, 2048, 0, window(1.2, 1.5)));
            windows.push((m, 9216, 0, window(loss, short)));
        }
        BenchResults {
            windows,
            passkeys: vec![],
            train_len: 8192,
            seconds: 0.0,
        }
    }

    #[test]
    fn differences_within_a_tie_order_nothing() {
        let lines = verdict(&results(&[
            (Method::None, 1.263, 1.562),
            (Method::Linear, 1.30, 1.565),
            (Method::Yarn, 1.260, 1.562),
        ]));
        let text = lines.join("\n");
        // PI's short loss is 0.003 nats worse: a tie, not an agreement.
        assert!(
            text.contains("PI (linear)") && text.contains("a tie"),
            "{text}"
        );
        // YaRN ahead of plain RoPE by 0.003 nats: tied, shown with ≈.
        assert!(
            text.contains("yarn 3.53 ≈ none 3.54 < linear 3.67"),
            "{text}"
        );
        assert!(!text.contains("DISAGREES with: costs"), "{text}");
        assert!(!text.contains("DISAGREES with: YaRN"), "{text}");
    }

    #[test]
    fn clear_differences_agree_or_disagree() {
        let text = verdict(&results(&[
            (Method::None, 2.0, 1.50),
            (Method::Linear, 1.6, 1.60),
            (Method::Yarn, 1.5, 1.52),
        ]))
        .join("\n");
        assert!(text.contains("agrees: costs short-range quality"), "{text}");
        assert!(text.contains("agrees: YaRN best"), "{text}");
        let text = verdict(&results(&[
            (Method::None, 2.0, 1.50),
            (Method::Linear, 1.4, 1.45),
            (Method::Yarn, 1.5, 1.52),
        ]))
        .join("\n");
        assert!(text.contains("DISAGREES with: costs short-range"), "{text}");
        assert!(text.contains("DISAGREES with: YaRN best"), "{text}");
    }
}
