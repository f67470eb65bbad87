//! The ViT resolution benchmark at a tiny size on NdArray: every method and grid reaches the
//! table and the CSV with finite figures and spreads over seeds, the plots are written, a second
//! run gives the same numbers, and bad flags are one-line errors naming the flag and the value.

#![cfg(feature = "ndarray")]

use burn::backend::{Autodiff, NdArray};
use burn_rotary_suite::scaling_bench::AlignedAlloc;
use burn_rotary_suite::vision::{
    csv, markdown, parse_args, run, write_outputs, CliExit, Method, VitBenchConfig,
};

type B = Autodiff<NdArray>;

/// Same numbers on every run (see `AlignedAlloc`).
#[global_allocator]
static ALLOC: AlignedAlloc = AlignedAlloc;

fn tiny() -> VitBenchConfig {
    VitBenchConfig {
        seeds: vec![1, 2, 3],
        workers: 2,
        train_grid: 4,
        grids: vec![4, 6, 8],
        steps: 6,
        batch_size: 8,
        eval_images: 18,
        d_model: 32,
        n_layers: 1,
        n_heads: 2,
        d_ff: 32,
        ..VitBenchConfig::quick()
    }
}

/// Held by every test that runs the benchmark: it seeds NdArray's process-wide generator, so
/// two runs on parallel test threads would draw each other's weights (and the determinism check
/// would compare runs that did not start alike).
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A run whose training diverges (`--lr 1e30`) is an error, not a table of NaN-born figures.
#[test]
fn a_diverged_run_is_an_error() {
    let _rng = rng_lock();
    let config = VitBenchConfig {
        learning_rate: 1e30,
        seeds: vec![1],
        ..tiny()
    };
    let error = run::<B>(&config, false, &Default::default()).unwrap_err();
    assert!(error.contains("diverged"), "{error}");
}

#[test]
fn tiny_run_is_complete_finite_and_deterministic() {
    let _rng = rng_lock();
    let config = tiny();
    let results = run::<B>(&config, false, &Default::default()).unwrap();
    let text = csv(&results);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(&header[..4], ["method", "grid", "loss", "accuracy"]);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), Method::ALL.len() * config.grids.len(), "{text}");
    for method in Method::ALL {
        for grid in &config.grids {
            let row = rows
                .iter()
                .find(|r| r[0] == method.name() && r[1] == grid.to_string())
                .unwrap_or_else(|| panic!("no row for {} at {grid}:\n{text}", method.name()));
            for name in [
                "loss",
                "accuracy",
                "loss_std",
                "accuracy_min",
                "accuracy_max",
            ] {
                let v: f64 = row[col(name)].parse().unwrap();
                assert!(v.is_finite(), "{} at {grid}: {name} = {v}", method.name());
            }
            let accuracy: f64 = row[col("accuracy")].parse().unwrap();
            assert!((0.0..=1.0).contains(&accuracy));
            assert_eq!(row[col("seeds")], "3");
        }
    }
    let summary = markdown(&results);
    for needle in [
        "| rope_ntk |",
        "| ape_interp |",
        "8×8",
        " ± ",
        "**Verdict**",
    ] {
        assert!(summary.contains(needle), "no `{needle}` in\n{summary}");
    }

    let dir = std::env::temp_dir().join(format!("burn-rotary-vit-{}", std::process::id()));
    let written = write_outputs(&results, &dir).unwrap();
    assert_eq!(written.len(), 4);
    for (path, _) in &written {
        let contents = std::fs::read_to_string(path).unwrap();
        if path.extension().is_some_and(|e| e == "svg") {
            assert!(contents.starts_with("<svg") && contents.contains("rope_coord_interp"));
        }
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("vit_bench.csv")).unwrap(),
        text
    );
    std::fs::remove_dir_all(&dir).ok();

    let again = run::<B>(&config, false, &Default::default()).unwrap();
    assert_eq!(csv(&again), text, "a second run gives the same table");
}

fn error(args: &[&str]) -> String {
    let argv = std::iter::once("vit_bench").chain(args.iter().copied());
    match parse_args(argv) {
        Err(CliExit::Error(e)) => e,
        other => panic!("{args:?} gave {other:?}"),
    }
}

#[test]
fn bad_flags_are_one_line_errors_naming_flag_and_value() {
    for (args, flag, value) in [
        (&["--steps", "0"][..], "--steps", "0"),
        (&["--steps", "many"], "--steps", "many"),
        (&["--grids", "8,2"], "--grids", "8,2"),
        (&["--grids", "16,8"], "--grids", "16,8"),
        (&["--train-grid", "100"], "--train-grid", "100"),
        (&["--lr", "-1"], "--lr", "-1"),
        (&["--theta", "1"], "--theta", "1"),
        (&["--weight-decay", "nan"], "--weight-decay", "nan"),
        (&["--backend", "tpu"], "--backend", "tpu"),
        (&["--heads", "3"], "--heads", "3"),
        (&["--heads", "32"], "--heads", "32"),
        (&["--seeds", "0"], "--seeds", "0"),
    ] {
        let e = error(args);
        assert!(!e.contains('\n'), "{args:?}: not one line: {e}");
        assert!(e.contains(flag) && e.contains(value), "{args:?}: {e}");
    }
    assert!(error(&["--bogus"]).contains("--bogus"));
    assert!(error(&["--steps"]).contains("--steps"));
    match parse_args(["vit_bench", "--help"]) {
        Err(CliExit::Help(text)) => assert!(text.contains("--quick") && text.contains("--grids")),
        other => panic!("--help gave {other:?}"),
    }
    let args = parse_args(["vit_bench", "--quick", "--seeds", "4", "--grids", "8,16"]).unwrap();
    assert_eq!(args.config.seeds, [1, 2, 3, 4]);
    assert_eq!(args.config.grids, [8, 16]);
    assert_eq!(args.config.steps, VitBenchConfig::quick().steps);
    assert_eq!(args.backend, "ndarray");
}
