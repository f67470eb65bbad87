//! The benchmark's tables: statistics over seeds, the markdown summary and the CSV.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::eval::buckets;
use super::{BenchResults, Row, TaskKind};

/// Mean and spread of one figure over the seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Mean (NaN if any value is NaN or there is none).
    pub mean: f64,
    /// Sample standard deviation (NaN with fewer than two values).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

impl Spread {
    /// The statistics of `values`.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let v: Vec<f64> = values.into_iter().collect();
        let n = v.len();
        if n == 0 || v.iter().any(|x| !x.is_finite()) {
            return Self {
                mean: f64::NAN,
                std: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n,
            };
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            f64::NAN
        };
        Self {
            mean,
            std,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            n,
        }
    }

    /// `mean ± std` with `decimals` decimals (`mean` alone from one seed), scaled by `scale`.
    pub fn show(&self, scale: f64, decimals: usize) -> String {
        if self.n > 1 {
            format!(
                "{:.decimals$} ± {:.decimals$}",
                scale * self.mean,
                scale * self.std
            )
        } else {
            format!("{:.decimals$}", scale * self.mean)
        }
    }
}

impl Row {
    /// Whole-sequence loss over the seeds.
    pub fn loss(&self) -> Spread {
        Spread::of(self.scores.iter().map(|s| s.loss))
    }

    /// Loss of position bucket `b`, one per seed (NaN where missing).
    pub fn bucket_losses(&self, b: usize) -> Vec<f64> {
        self.scores
            .iter()
            .map(|s| s.bucket_loss.get(b).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// Loss of position bucket `b` over the seeds.
    pub fn bucket_loss(&self, b: usize) -> Spread {
        Spread::of(self.bucket_losses(b))
    }

    /// Retrieval accuracy (mean over depths) over the seeds.
    pub fn accuracy(&self) -> Spread {
        Spread::of(self.scores.iter().map(|s| s.accuracy().unwrap_or(f64::NAN)))
    }

    /// Retrieval accuracy at depth `d`, one per seed (NaN where missing).
    pub fn depth_accuracies(&self, d: usize) -> Vec<f64> {
        self.scores
            .iter()
            .map(|s| s.depth_accuracy.get(d).copied().unwrap_or(f64::NAN))
            .collect()
    }

    /// Retrieval accuracy at depth `d` over the seeds.
    pub fn depth_accuracy(&self, d: usize) -> Spread {
        Spread::of(self.depth_accuracies(d))
    }
}

/// Writes `path` whole or not at all: to a temporary file, renamed into place.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        std::fs::remove_file(&tmp).ok();
    })
}

/// The CSV: one line per task, method and length (whole sequence), then one per position
/// bucket and, for retrieval, one per depth.
pub fn csv(results: &BenchResults) -> String {
    let mut out = String::from(
        "method,length,loss,accuracy,task,positions,depth,loss_std,loss_min,loss_max,\
         accuracy_std,accuracy_min,accuracy_max,seeds,tokens,factor,note\n",
    );
    let num = |x: f64| format!("{x:.5}");
    let stats = |s: Spread| format!("{},{},{}", num(s.std), num(s.min), num(s.max));
    let none = ",,";
    for r in &results.rows {
        let retrieval = r.task == TaskKind::Retrieval;
        let tokens = r.scores.first().map_or(0, |s| s.tokens);
        let note = r.note.replace(',', " ");
        let head = |loss: &str, acc: &str, positions: &str, depth: &str| {
            format!(
                "{},{},{loss},{acc},{},{positions},{depth}",
                r.method,
                r.length,
                r.task.name()
            )
        };
        let (loss, acc) = (r.loss(), r.accuracy());
        let (acc_mean, acc_stats) = if retrieval {
            (num(acc.mean), stats(acc))
        } else {
            (String::new(), none.to_string())
        };
        let depth = if retrieval { "all" } else { "" };
        let positions = format!("0-{}", r.length);
        writeln!(
            out,
            "{},{},{acc_stats},{},{tokens},{},{note}",
            head(&num(loss.mean), &acc_mean, &positions, depth),
            stats(loss),
            loss.n,
            r.factor
        )
        .expect("write to String");
        for (b, (lo, hi)) in buckets(results.train_len, r.length).into_iter().enumerate() {
            let s = r.bucket_loss(b);
            writeln!(
                out,
                "{},{},{none},{},,{},",
                head(&num(s.mean), "", &format!("{lo}-{hi}"), ""),
                stats(s),
                s.n,
                r.factor
            )
            .expect("write to String");
        }
        if retrieval {
            for (d, depth) in results.depths.iter().enumerate() {
                let s = r.depth_accuracy(d);
                writeln!(
                    out,
                    "{},{none},{},{},,{},",
                    head("", &num(s.mean), &positions, &depth.to_string()),
                    stats(s),
                    s.n,
                    r.factor
                )
                .expect("write to String");
            }
        }
    }
    out
}

/// Writes `scaling.csv` (see [`csv`]) into `dir`.
pub fn write_csv(results: &BenchResults, dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("scaling.csv");
    write_atomic(&path, &csv(results))?;
    Ok(path)
}

/// A markdown table: one row per method of `task`, one column per key.
fn table<K: std::fmt::Display>(
    results: &BenchResults,
    task: TaskKind,
    title: &str,
    keys: &[K],
    cell: &dyn Fn(&str, &K) -> String,
) -> String {
    let mut s = format!("{title}\n\n| method |");
    for k in keys {
        write!(s, " {k} |").unwrap();
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(keys.len()));
    s.push('\n');
    for method in results.methods(task) {
        write!(s, "| {method} |").unwrap();
        for k in keys {
            write!(s, " {} |", cell(method, k)).unwrap();
        }
        s.push('\n');
    }
    s.push('\n');
    s
}

/// The summary: what was run, the tables (mean ± std over seeds), and what they show.
pub fn markdown(results: &BenchResults) -> String {
    let l = results.train_len;
    let lengths = &results.lengths;
    let longest = *lengths.last().unwrap_or(&l);
    let n = results.seeds.len();
    let seeds: Vec<String> = results.seeds.iter().map(u64::to_string).collect();
    let mut out = format!(
        "Models: {}; byte-level, trained at L = {l} tokens from seeds {} (one model per seed \
         and task). Text: {}. Every cell is the mean ± sample std over the {n} models (min–max \
         in the CSV); every method scores the same held-out sequences.\n\n",
        results.model,
        seeds.join(", "),
        results.corpus,
    );
    if let Some((steps, len)) = results.finetune {
        writeln!(
            out,
            "`+ft`: fine-tuned {steps} steps at {len} tokens with that method (factor {}), then \
             scored like the rest.\n",
            len / l
        )
        .unwrap();
    }
    let dash = || String::from("-");
    let text = TaskKind::Text;
    if results.has(text) {
        let row = |m: &str, len: usize| results.row(text, m, len);
        out += &table(
            results,
            text,
            "**Text loss** (nats per byte on held-out text, whole sequence)",
            lengths,
            &|m, &len| row(m, len).map_or_else(dash, |r| r.loss().show(1.0, 3)),
        );
        let bucket_keys: Vec<String> = buckets(l, longest)
            .iter()
            .map(|(lo, hi)| format!("{lo}–{hi}"))
            .collect();
        let index: Vec<usize> = (0..bucket_keys.len()).collect();
        out += &table(
            results,
            text,
            &format!(
                "**Text loss by position** in the {longest}-token sequences (nats per byte; \
                 where each method breaks)"
            ),
            &bucket_keys,
            &|m, k| {
                let b = index[bucket_keys.iter().position(|x| x == k).expect("key")];
                row(m, longest).map_or_else(dash, |r| r.bucket_loss(b).show(1.0, 3))
            },
        );
    }
    let retrieval = TaskKind::Retrieval;
    if results.has(retrieval) {
        let row = |m: &str, len: usize| results.row(retrieval, m, len);
        let depths: Vec<String> = results.depths.iter().map(|d| format!("{d}")).collect();
        out += &table(
            results,
            retrieval,
            &format!(
                "**Retrieval accuracy** (%, the queried key's value among distractors, mean over \
                 key depths {})",
                depths.join(", ")
            ),
            lengths,
            &|m, &len| row(m, len).map_or_else(dash, |r| r.accuracy().show(100.0, 1)),
        );
        let index: Vec<usize> = (0..depths.len()).collect();
        out += &table(
            results,
            retrieval,
            &format!("**Retrieval accuracy by key depth** at {longest} tokens (%)"),
            &depths,
            &|m, k| {
                let d = index[depths.iter().position(|x| x == k).expect("key")];
                row(m, longest).map_or_else(dash, |r| r.depth_accuracy(d).show(100.0, 0))
            },
        );
    }
    let notes: Vec<String> = results
        .rows
        .iter()
        .filter(|r| r.method == "longrope" && !r.note.is_empty() && r.length == longest)
        .map(|r| format!("{} ({})", r.task.name(), r.note))
        .collect();
    if !notes.is_empty() {
        writeln!(
            out,
            "LongRoPE's ramp exponent p at {longest} tokens, searched per length and seed on \
             validation data: {}.\n",
            notes.join("; ")
        )
        .unwrap();
    }
    out += "**Verdict**\n\n";
    out += &super::verdict::verdict(results);
    out += &super::retrieval_verdict::retrieval_verdict(results);
    out += super::verdict::seeds_note(results);
    out
}
