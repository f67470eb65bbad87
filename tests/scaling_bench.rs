//! The scaling benchmark at its `--quick` size on NdArray: every method and length reaches the
//! CSV with finite numbers, and the plots are written.

#![cfg(feature = "ndarray")]

use burn::backend::{Autodiff, NdArray};
use burn_rotary_suite::scaling_bench::{markdown, run, write_csv, write_plots, BenchConfig};
use burn_rotary_suite::scaling_methods::Method;

#[test]
fn quick_run_writes_every_method_and_length() {
    let out = std::env::temp_dir().join(format!("burn-rotary-scaling-{}", std::process::id()));
    let config = BenchConfig {
        finetune_steps: 2,
        ..BenchConfig::quick()
    };
    let results = run::<Autodiff<NdArray>>(&config, &out, false, &Default::default()).unwrap();

    let csv_path = write_csv(&results, &out).unwrap();
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        &header[..6],
        [
            "method",
            "length",
            "factor",
            "loss",
            "perplexity",
            "accuracy"
        ]
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut expected: Vec<String> = Method::ALL.iter().map(|m| m.name().to_string()).collect();
    expected.extend(["linear+ft".to_string(), "yarn+ft".to_string()]);
    for method in &expected {
        for length in config.lengths() {
            let row = rows
                .iter()
                .find(|r| r[0] == method && r[1] == length.to_string())
                .unwrap_or_else(|| panic!("no CSV row for {method} at {length}:\n{csv}"));
            for (name, value) in header.iter().zip(row).skip(2).take(header.len() - 3) {
                let v: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} = `{value}`"));
                assert!(v.is_finite(), "{method} at {length}: {name} = {v}");
            }
            let accuracy: f64 = row[5].parse().unwrap();
            assert!((0.0..=1.0).contains(&accuracy));
        }
    }
    assert_eq!(rows.len(), expected.len() * config.lengths().len());

    for plot in write_plots(&results, &out).unwrap() {
        let svg = std::fs::read_to_string(&plot).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("longrope"),
            "{}",
            plot.display()
        );
    }
    let summary = markdown(&results);
    assert!(summary.contains("| dynamic_ntk |") && summary.contains("What it shows"));

    // A second run with the same configs loads the cached model instead of training.
    let again =
        run::<Autodiff<NdArray>>(&BenchConfig::quick(), &out, false, &Default::default()).unwrap();
    assert!(
        again.model_source.starts_with("loaded"),
        "{}",
        again.model_source
    );
    let first = results.row("none", config.train_len()).unwrap();
    let second = again.row("none", config.train_len()).unwrap();
    assert_eq!(
        first.score, second.score,
        "the cached model scores the same"
    );
    std::fs::remove_dir_all(out).ok();
}
