//! The scaling benchmark at a tiny size on NdArray: every task, method and length reaches the
//! CSV with finite figures and spreads over seeds; the plots are written; a second training
//! (another folder, two workers) gives the same numbers; cached models are reused; and a
//! failed run leaves the earlier results and models as they were. And every bad flag is a
//! one-line error naming it.

#![cfg(feature = "ndarray")]

use std::path::{Path, PathBuf};

use burn::backend::{Autodiff, NdArray};
use burn_rotary_suite::cli::CliExit;
use burn_rotary_suite::scaling_bench::cli::parse_args;
use burn_rotary_suite::scaling_bench::{
    csv, markdown, run, write_csv, write_plots, AlignedAlloc, BenchConfig, TextSource,
};
use burn_rotary_suite::scaling_methods::Method;

type B = Autodiff<NdArray>;

/// Same numbers on every run (see `AlignedAlloc`).
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

fn tiny() -> BenchConfig {
    let mut config = BenchConfig::quick();
    config.model = config.model.with_d_model(64).with_n_heads(1).with_d_ff(64);
    config.model.rope.head_dim = 64;
    config.train = config
        .train
        .with_steps(4)
        .with_batch_size(4)
        .with_seq_len(16);
    config.retrieval_train = config.retrieval_train.with_steps(4).with_batch_size(4);
    config.ratios = vec![1, 2, 4];
    config.eval_tokens = 64;
    config.eval_per_depth = 2;
    config.search_tokens = 64;
    config.finetune_steps = 2;
    config.finetune_ratio = 2;
    config.workers = 2;
    config
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("burn-rotary-{name}-{}", std::process::id()))
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn tiny_run_is_complete_deterministic_and_safe() {
    let (out, again_dir) = (temp("scaling"), temp("scaling-again"));
    let config = tiny();
    let results = run::<B>(&config, &out, false, false, &Default::default()).unwrap();
    assert!(results.models_source.starts_with("6 of 6 models trained"));

    let csv_path = write_csv(&results, &out).unwrap();
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["method", "length", "loss", "accuracy"]);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut expected: Vec<(&str, String)> = Vec::new();
    for task in ["text", "retrieval"] {
        expected.extend(Method::ALL.iter().map(|m| (task, m.name().to_string())));
    }
    expected.extend([("text", "linear+ft".into()), ("text", "yarn+ft".into())]);
    for (task, method) in &expected {
        for length in config.lengths() {
            let row = rows
                .iter()
                .find(|r| {
                    r[col("task")] == *task
                        && r[0] == method
                        && r[1] == length.to_string()
                        && r[col("positions")] == format!("0-{length}")
                        && (r[col("depth")].is_empty() || r[col("depth")] == "all")
                })
                .unwrap_or_else(|| panic!("no CSV row for {task} {method} at {length}:\n{text}"));
            let mut figures = vec!["loss", "loss_std", "loss_min", "loss_max"];
            if *task == "retrieval" {
                figures.extend(["accuracy", "accuracy_std"]);
            }
            for name in figures {
                let v: f64 = row[col(name)].parse().unwrap_or_else(|_| panic!("{name}"));
                assert!(v.is_finite(), "{task} {method} at {length}: {name} = {v}");
            }
            assert_eq!(row[col("seeds")], "3");
            if *task == "retrieval" {
                let a: f64 = row[col("accuracy")].parse().unwrap();
                assert!((0.0..=1.0).contains(&a));
            } else {
                assert_eq!(row[col("accuracy")], "", "text has no retrieval accuracy");
            }
        }
    }
    let buckets = rows
        .iter()
        .filter(|r| r[col("positions")] == "32-64")
        .count();
    assert_eq!(
        buckets, 16,
        "the 64-token rows have a 32-64 bucket, per method and task"
    );

    let plots = write_plots(&results, &out).unwrap();
    assert_eq!(plots.len(), 4);
    for (plot, _) in &plots {
        let svg = std::fs::read_to_string(plot).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("longrope"),
            "{}",
            plot.display()
        );
    }
    let summary = markdown(&results);
    assert!(summary.contains("| dynamic_ntk |") && summary.contains("Verdict"));
    assert!(summary.contains(" ± "), "spreads over seeds are shown");

    // Training anew elsewhere gives the same numbers; the cached models give them again.
    let again = run::<B>(&config, &again_dir, false, false, &Default::default()).unwrap();
    assert_eq!(csv(&again), text, "a second training gives the same table");
    let cached = run::<B>(&config, &out, false, false, &Default::default()).unwrap();
    assert!(
        cached.models_source.starts_with("0 of 6"),
        "{}",
        cached.models_source
    );
    assert_eq!(csv(&cached), text, "the cached models score the same");

    // A failed run (too short a text, with --retrain) leaves results and models as they were.
    let before = snapshot(&out);
    let short = temp("short.txt");
    std::fs::write(&short, "fn main() {}\n").unwrap();
    let failing = BenchConfig {
        text: TextSource::File(short.clone()),
        ..config.clone()
    };
    let err = run::<B>(&failing, &out, true, false, &Default::default()).unwrap_err();
    assert!(err.contains("too short"), "{err}");
    assert!(
        before == snapshot(&out),
        "a failed run changed {}",
        out.display()
    );
    // A diverged run (--lr 1e30, --retrain): an error; nothing cached, scored or replaced.
    let diverging = BenchConfig {
        train: config.train.clone().with_learning_rate(1e30),
        ..config.clone()
    };
    let err = run::<B>(&diverging, &out, true, false, &Default::default()).unwrap_err();
    assert!(err.contains("diverged"), "{err}");
    assert!(
        before == snapshot(&out),
        "a diverged run changed the folder"
    );
    let empty = BenchConfig {
        eval_tokens: 0,
        ..config
    };
    let err = run::<B>(&empty, &out, true, false, &Default::default()).unwrap_err();
    assert!(err.contains("--eval-tokens"), "{err}");
    assert!(before == snapshot(&out));

    for dir in [out, again_dir] {
        std::fs::remove_dir_all(dir).ok();
    }
    std::fs::remove_file(short).ok();
}

fn error(args: &[&str]) -> String {
    let argv = std::iter::once("scaling_bench").chain(args.iter().copied());
    match parse_args(argv) {
        Err(CliExit::Error(e)) => e,
        other => panic!("{args:?} gave {other:?}"),
    }
}

#[test]
fn bad_flags_are_one_line_errors_naming_flag_and_value() {
    for (args, flag, value) in [
        (&["--train-len", "0"][..], "--train-len", "0"),
        (&["--train-len", "3"], "--train-len", "3"),
        (&["--steps", "-2"], "--steps", "-2"),
        (&["--lr", "inf"], "--lr", "inf"),
        (&["--retrieval-lr", "0"], "--retrieval-lr", "0"),
        (&["--eval-batch-tokens", "0"], "--eval-batch-tokens", "0"),
        (&["--ratios", "1,0"], "--ratios", "1,0"),
        (&["--ratios", "1,1000"], "--ratios", "1000"),
        (&["--finetune-ratio", "3"], "--finetune-ratio", "3"),
        (&["--heads", "3"], "--heads", "3"),
        (&["--kv-heads", "3"], "--kv-heads", "3"),
        (&["--pairs", "62"], "--pairs", "62"),
        (&["--record-every", "1"], "--record-every", "1"),
        (&["--longrope-factors", "1,2"], "--longrope-factors", "2"),
        (&["--backend", "wgpu-kernel"], "--backend", "wgpu-kernel"),
        (&["--seeds", "0"], "--seeds", "0"),
        (
            &["--no-retrieval", "--pairs", "2"],
            "--no-retrieval",
            "--pairs",
        ),
    ] {
        let e = error(args);
        assert!(!e.contains('\n'), "{args:?}: not one line: {e}");
        assert!(e.contains(flag) && e.contains(value), "{args:?}: {e}");
    }
    assert!(error(&["--bogus"]).contains("--bogus"));
    match parse_args(["scaling_bench", "--help"]) {
        Err(CliExit::Help(text)) => assert!(text.contains("--quick") && text.contains("--ratios")),
        other => panic!("--help gave {other:?}"),
    }
    // Flags apply over the preset: --quick's defaults stay where no flag is given.
    let args = parse_args([
        "scaling_bench",
        "--quick",
        "--seeds",
        "4",
        "--d-model",
        "64",
    ])
    .unwrap();
    let quick = BenchConfig::quick();
    assert_eq!(args.config.seeds, [1, 2, 3, 4]);
    assert_eq!(args.config.train.steps, quick.train.steps);
    assert_eq!(args.config.train_len(), quick.train_len());
    assert_eq!(args.config.model.rope.head_dim, 32);
    assert_eq!(args.backend, "ndarray");
}
