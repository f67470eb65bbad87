//! Bad configurations are rejected with an error naming the field and its value, and good
//! ones survive a JSON round trip.

use burn_rotary::RopeConfigExt;
use burn_rotary::{LongRopeScaling, RopeConfig, RopeError, RopeScaling, YarnScaling};

fn yarn(beta_fast: f64, beta_slow: f64) -> RopeScaling {
    RopeScaling::Yarn(YarnScaling {
        beta_fast,
        beta_slow,
        ..YarnScaling::new(4.0, 2048)
    })
}

#[track_caller]
fn assert_rejects(result: Result<impl std::fmt::Debug, RopeError>, needles: &[&str]) {
    let message = result.expect_err("expected an error").to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "`{message}` does not mention `{needle}`"
        );
    }
}

#[test]
fn invalid_fields_are_named_with_their_value() {
    let cases: Vec<(RopeConfig, &[&str])> = vec![
        (RopeConfig::new(0), &["head_dim", "0"]),
        (RopeConfig::new(63), &["head_dim", "63"]),
        (
            RopeConfig::new(64).with_rotary_dim(Some(15)),
            &["rotary_dim", "15"],
        ),
        (
            RopeConfig::new(64).with_rotary_dim(Some(0)),
            &["rotary_dim", "0"],
        ),
        (
            RopeConfig::new(64).with_rotary_dim(Some(128)),
            &["rotary_dim", "128", "head_dim = 64"],
        ),
        (RopeConfig::new(64).with_theta(0.0), &["theta", "0"]),
        (RopeConfig::new(64).with_theta(-5.0), &["theta", "-5"]),
        (RopeConfig::new(64).with_theta(f64::NAN), &["theta", "NaN"]),
        (
            RopeConfig::new(64).with_theta(f64::INFINITY),
            &["theta", "inf"],
        ),
        (
            RopeConfig::new(64).with_scaling(RopeScaling::Linear { factor: 0.0 }),
            &["scaling.factor", "0"],
        ),
        (
            RopeConfig::new(64).with_scaling(RopeScaling::DynamicNtk { factor: f64::NAN }),
            &["scaling.factor", "NaN"],
        ),
        (
            RopeConfig::new(64).with_scaling(yarn(1.0, 1.0)),
            &["beta_fast", "beta_slow"],
        ),
        (
            RopeConfig::new(64).with_scaling(yarn(2.0, 8.0)),
            &["beta_fast", "2", "beta_slow = 8"],
        ),
        (
            RopeConfig::new(64).with_scaling(RopeScaling::LongRope(LongRopeScaling {
                short_factor: vec![1.0; 31],
                long_factor: vec![1.0; 32],
                original_max_position_embeddings: 4096,
                factor: None,
                attention_factor: None,
            })),
            &["short_factor", "31", "32"],
        ),
        (
            RopeConfig::new(64).with_inv_freq(Some(vec![1.0; 3])),
            &["inv_freq", "3", "32"],
        ),
    ];
    for (config, needles) in cases {
        assert_rejects(config.validate(), needles);
        assert_rejects(
            config.try_init::<burn::backend::NdArray>(&Default::default()),
            needles,
        );
    }
}

#[test]
fn init_panics_with_the_same_message() {
    let result = std::panic::catch_unwind(|| {
        RopeConfig::new(7).init::<burn::backend::NdArray>(&Default::default());
    });
    let payload = result.expect_err("init must panic on a bad config");
    let message = payload.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("head_dim") && message.contains('7'),
        "{message}"
    );
}

#[test]
fn bad_hf_configs_are_rejected() {
    let cases: &[(&str, &[&str])] = &[
        ("{not json", &["malformed"]),
        ("[1, 2]", &["object"]),
        (
            r#"{"head_dim": 64, "rope_parameters": {"rope_type": "magic"}}"#,
            &["magic"],
        ),
        (
            r#"{"head_dim": 64, "rope_scaling": {"type": "linear"}}"#,
            &["factor", "linear"],
        ),
        (
            r#"{"head_dim": 64, "rope_parameters": {"rope_type": "yarn", "factor": 4.0}}"#,
            &["original_max_position_embeddings", "yarn"],
        ),
        (
            r#"{"head_dim": 64, "rope_parameters": {"rope_type": "llama3", "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0}}"#,
            &["original_max_position_embeddings", "llama3"],
        ),
        (
            r#"{"head_dim": 64, "max_position_embeddings": 4096, "rope_parameters":
                {"rope_type": "longrope", "short_factor": [1.0], "long_factor": [1.0]}}"#,
            &["short_factor", "32"],
        ),
        (
            r#"{"head_dim": 64, "rope_theta": "big"}"#,
            &["rope_theta", "big"],
        ),
        (r#"{"head_dim": 63}"#, &["head_dim", "63"]),
        (r#"{"hidden_size": 512}"#, &["head_dim"]),
        (
            r#"{"head_dim": 64, "partial_rotary_factor": 1.5}"#,
            &["partial_rotary_factor", "1.5"],
        ),
        (
            r#"{"head_dim": 64, "rope_parameters": {"rope_type": "linear", "factor": -2}}"#,
            &["scaling.factor", "-2"],
        ),
        (
            r#"{"head_dim": 64, "rope_parameters": {"rope_type": "dynamic", "factor": 2}}"#,
            &["max_position_embeddings"],
        ),
    ];
    for (json, needles) in cases {
        assert_rejects(RopeConfig::from_hf_str(json), needles);
    }
}

#[test]
fn hf_v4_and_v5_forms_agree() {
    let v4 = r#"{"hidden_size": 2048, "num_attention_heads": 16, "max_position_embeddings": 8192,
        "rope_theta": 50000.0, "partial_rotary_factor": 0.5,
        "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}}"#;
    let v5 = r#"{"head_dim": 128, "max_position_embeddings": 8192,
        "rope_parameters": {"rope_type": "yarn", "rope_theta": 50000.0, "partial_rotary_factor": 0.5,
        "factor": 4.0, "original_max_position_embeddings": 2048}}"#;
    let (a, b) = (
        RopeConfig::from_hf_str(v4).unwrap(),
        RopeConfig::from_hf_str(v5).unwrap(),
    );
    assert_eq!(a.rotary_dim(), 64);
    assert_eq!(a.to_string(), b.to_string());
}

#[test]
fn config_json_round_trips() {
    let config = RopeConfig::new(96)
        .with_rotary_dim(Some(32))
        .with_theta(1e6)
        .with_scaling(yarn(32.0, 1.0));
    let back: RopeConfig = serde_json::from_str(&config.to_string()).unwrap();
    assert_eq!(back.to_string(), config.to_string());
    assert_eq!(back.scaling, config.scaling);
}

/// What a config computes is validated, not only its inputs: every accepted config has finite,
/// positive frequencies and attention factor at every length, or an error naming the field.
#[test]
fn computed_values_are_validated() {
    let with_yarn = |theta: f64, mscale: Option<f64>| {
        let RopeScaling::Yarn(mut y) = yarn(32.0, 1.0) else {
            unreachable!()
        };
        y.mscale = mscale;
        y.mscale_all_dim = mscale.map(|_| 1.0);
        RopeConfig::new(64)
            .with_theta(theta)
            .with_scaling(RopeScaling::Yarn(y))
    };
    let long_rope = |item: f64| {
        RopeConfig::new(8).with_scaling(RopeScaling::LongRope(LongRopeScaling {
            short_factor: vec![1.0, 1.0, item, 1.0],
            long_factor: vec![2.0; 4],
            original_max_position_embeddings: 1024,
            factor: None,
            attention_factor: None,
        }))
    };
    let cases: Vec<(RopeConfig, &[&str])> = vec![
        // HF raises on this one: YaRN's correction range divides by ln(theta).
        (
            with_yarn(1.0, None),
            &["scaling", "yarn", "theta = 1", "inv_freq"],
        ),
        (
            with_yarn(10_000.0, Some(1e300)),
            &["scaling", "attention factor"],
        ),
        (
            RopeConfig::new(64).with_theta(5e-324),
            &["theta", "inv_freq"],
        ),
        (
            RopeConfig::new(64).with_scaling(RopeScaling::Linear { factor: 1e-310 }),
            &["scaling", "linear", "inv_freq"],
        ),
        (
            RopeConfig::new(64).with_scaling(RopeScaling::DynamicNtk { factor: 1e300 }),
            &["scaling", "dynamic", "inv_freq"],
        ),
        (long_rope(1e-320), &["scaling", "longrope", "inv_freq[2]"]),
        // Finite in f64 but not in f32: inverse frequency 3e245 at head dim 8.
        (
            RopeConfig::new(8).with_theta(5e-324),
            &["theta", "inv_freq[1]", "f32"],
        ),
        // A finite f32 frequency whose angle at the last position is not.
        (
            RopeConfig::new(4)
                .with_theta(1e-70)
                .with_max_positions(1 << 20),
            &["theta", "angles", "inv_freq[1] = 1e35"],
        ),
    ];
    for (config, needles) in cases {
        assert_rejects(config.validate(), needles);
        assert_rejects(
            config.try_init::<burn::backend::NdArray>(&Default::default()),
            needles,
        );
    }
    // Extreme but sound settings stay accepted.
    RopeConfig::new(64).with_theta(1e30).validate().unwrap();
    long_rope(1e-3).validate().unwrap();
}

/// Sizes are checked before memory is touched: a huge head dim or table is an error, not an
/// abort on a multi-terabyte allocation.
#[test]
fn sizes_are_checked_before_allocating() {
    let device = Default::default();
    let init = |config: RopeConfig| config.try_init::<burn::backend::NdArray>(&device);
    assert_rejects(
        init(RopeConfig::new(1 << 40)),
        &["head_dim", "1099511627776"],
    );
    assert_rejects(
        init(RopeConfig::new(128).with_max_positions(i32::MAX as usize)),
        &["max_positions", "2147483647", "table"],
    );
    assert_rejects(
        RopeConfig::from_hf_str(r#"{"head_dim": 1099511627776, "rope_theta": 10000}"#)
            .and_then(|c| init(c).map(|_| ())),
        &["head_dim"],
    );
    // The bound itself is comfortable for real models.
    init(RopeConfig::new(256).with_max_positions(1 << 24)).unwrap();
}

/// The HF fixture checker never panics and never passes vacuously: a case whose tensors
/// disagree with its own fields, or leave nothing to compare, is a failure with the reason.
#[test]
fn hf_fixture_cases_that_disagree_with_themselves_fail() {
    use burn_rotary_suite::hf_fixture::Fixture;
    use serde_json::{json, Value};

    let text = std::fs::read_to_string("tests/fixtures/hf_rope_public.json").unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let case = file["cases"][0].clone();
    let device = Default::default();
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut case = case.clone();
        edit(&mut case);
        let fixture: Fixture =
            serde_json::from_value(json!({"generator": "test", "cases": [case]})).unwrap();
        fixture.cases[0].check::<burn::backend::NdArray>(&device)
    };
    assert!(check(&|_| {}).unwrap().passed(), "the unedited case passes");
    let head_dim = case["head_dim"].as_u64().unwrap();
    type Edit<'a> = Box<dyn Fn(&mut Value) + 'a>;
    let edits: Vec<(Edit, &str)> = vec![
        (
            Box::new(|c| c["head_dim"] = json!(head_dim + 2)),
            "head_dim",
        ),
        (Box::new(|c| c["shape"][1] = json!(0)), "empty"),
        (
            Box::new(|c| c["shape"] = json!([1u64 << 62, 1u64 << 62, 1, head_dim])),
            "overflows",
        ),
        (Box::new(|c| c["q"] = json!([])), "`q` has 0 values"),
        (
            Box::new(|c| c["k_out"].as_array_mut().unwrap().pop().map(drop).unwrap()),
            "`k_out`",
        ),
        (Box::new(|c| c["positions"] = json!([])), "positions"),
        (Box::new(|c| c["inv_freq"] = json!([])), "inv_freq"),
        // Identity rotations check nothing, whatever the config says.
        (
            Box::new(|c| {
                for key in ["q", "k", "q_out", "k_out"] {
                    let n = c[key].as_array().unwrap().len();
                    c[key] = json!(vec![0.0; n]);
                }
            }),
            "every input value is 0",
        ),
        (
            Box::new(|c| {
                let n = c["positions"].as_array().unwrap().len();
                c["positions"] = json!(vec![0; n]);
            }),
            "every position is 0",
        ),
        (
            Box::new(|c| c["rotary_dim"] = json!(head_dim + 2)),
            "rotary_dim",
        ),
        (
            Box::new(|c| {
                let n = c["positions"].as_array().unwrap().len();
                c["positions"] = json!(vec![1i64 << 40; n]);
            }),
            "no position",
        ),
    ];
    for (edit, needle) in edits {
        let error = check(&*edit).expect_err(needle);
        assert!(
            error.contains(needle),
            "`{error}` does not mention `{needle}`"
        );
    }

    let empty = std::env::temp_dir().join(format!("no_cases_{}.json", std::process::id()));
    std::fs::write(&empty, r#"{"generator": "test", "cases": []}"#).unwrap();
    let error = Fixture::load(empty.to_str().unwrap()).expect_err("no cases");
    std::fs::remove_file(&empty).ok();
    assert!(error.contains("no cases"), "{error}");
}

/// A model-level config (`ModelRopeConfig`) from `json`.
fn model(json: serde_json::Value) -> Result<burn_rotary::ModelRopeConfig, RopeError> {
    burn_rotary::ModelRopeConfig::from_hf_json(&json)
}

#[test]
fn bad_model_configs_name_the_field_and_value() {
    use serde_json::json;
    let qwen2_vl = |section: serde_json::Value| {
        json!({"model_type": "qwen2_vl", "hidden_size": 1024, "num_attention_heads": 8,
               "num_hidden_layers": 2, "rope_theta": 1e6,
               "rope_scaling": {"type": "mrope", "mrope_section": section}})
    };
    let cases: Vec<(serde_json::Value, &[&str])> = vec![
        // 128-dim heads: 64 pairs, the sections sum to 63.
        (
            qwen2_vl(json!([16, 24, 23])),
            &["mrope_section", "[16, 24, 23]", "64"],
        ),
        (
            json!({"model_type": "gemma3_text", "head_dim": 64, "num_hidden_layers": 4,
                   "layer_types": ["sliding_attention", "full_attention"]}),
            &["layer_types", "2 entries", "num_hidden_layers = 4"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 2,
                   "layer_types": ["sliding_attention", "full_attention"],
                   "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e4}}}),
            &["rope_parameters", "sliding_attention"],
        ),
        (
            json!({"model_type": "smollm3", "head_dim": 64, "num_hidden_layers": 4,
                   "no_rope_layers": [1, 1, 0]}),
            &["no_rope_layers", "3 entries", "4 entries"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 2, "partial_rotary_factor": 1.5}),
            &["partial_rotary_factor", "1.5", "(0, 1]"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 2, "partial_rotary_factor": 0.0}),
            &["partial_rotary_factor", "0"],
        ),
        (
            // 64 * 0.3 = 19: an odd rotary dim.
            json!({"head_dim": 64, "num_hidden_layers": 2, "partial_rotary_factor": 0.3}),
            &["partial_rotary_factor", "0.3", "19"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 2,
                   "rope_parameters": {"rope_type": "warp", "rope_theta": 1e4}}),
            &["warp", "proportional", "llama3"],
        ),
        (
            json!({"model_type": "qwen3_vl", "head_dim": 128, "num_hidden_layers": 2,
                   "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20],
                                    "mrope_interleaved": false}}),
            &["mrope_interleaved", "false"],
        ),
        (json!({"head_dim": 64}), &["num_hidden_layers"]),
        // Unknown layer types are refused (their RoPE is not known), not given a setting.
        (
            json!({"model_type": "gemma3_text", "head_dim": 64, "num_hidden_layers": 2,
                   "layer_types": ["sliding", "full_attention"]}),
            &["layer_types", "\"sliding\" (layer 0)", "sliding_attention"],
        ),
        (
            json!({"model_type": "qwen3_5_text", "head_dim": 256, "num_hidden_layers": 4,
                   "partial_rotary_factor": 0.25, "full_attention_interval": 0}),
            &["full_attention_interval", "0"],
        ),
        (
            json!({"model_type": "gemma4_text", "head_dim": 256, "num_hidden_layers": 6,
                   "global_head_dim": 0}),
            &["global_head_dim", "0"],
        ),
        (
            json!({"model_type": "qwen3_vl", "head_dim": 128, "num_hidden_layers": 2,
                   "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20],
                                    "mrope_interleaved": "yes"}}),
            &["mrope_interleaved", "yes"],
        ),
        // Sizes are bounded before the per-layer lists are allocated.
        (
            json!({"head_dim": 64, "num_hidden_layers": 1_000_000_000u64}),
            &["num_hidden_layers", "1000000000", "65536"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 1_000_000_000_000_000_000u64}),
            &["num_hidden_layers", "1000000000000000000", "65536"],
        ),
        // A float past 2^53 is no exact integer: refused, not saturated to a plausible one.
        (
            json!({"head_dim": 64, "num_hidden_layers": 1e18}),
            &["num_hidden_layers", "non-negative integer"],
        ),
        (
            json!({"head_dim": 64, "num_hidden_layers": 1e30}),
            &["num_hidden_layers", "non-negative integer"],
        ),
    ];
    for (json, needles) in cases {
        assert_rejects(model(json), needles);
    }

    // transformers' legacy names are read as it remaps them.
    let legacy = model(json!({"model_type": "qwen3_5_text", "head_dim": 256,
        "num_hidden_layers": 2, "partial_rotary_factor": 0.25, "rope_theta": 1e7,
        "layer_types": ["mamba", "attention"]}))
    .unwrap();
    assert_eq!(legacy.layer_types(), ["linear_attention", "full_attention"]);
    assert_eq!(
        legacy.layer_rope(0).unwrap(),
        burn_rotary::LayerRope::NoRope
    );
    assert_eq!(
        legacy.layer_rope(1).unwrap(),
        burn_rotary::LayerRope::Setting(0)
    );

    let ok = model(qwen2_vl(json!([16, 24, 24]))).unwrap();
    assert_rejects(ok.layer(2), &["layer_idx", "2", "num_hidden_layers = 2"]);
    assert!(ok.layer(1).unwrap().is_some());
}

#[test]
fn proportional_allows_its_zero_frequencies_only() {
    use burn_rotary::ProportionalScaling;
    let proportional = |p: f64| {
        RopeConfig::new(64).with_scaling(RopeScaling::Proportional(ProportionalScaling {
            factor: 1.0,
            partial_rotary_factor: p,
        }))
    };
    let config = proportional(0.25);
    config.validate().unwrap();
    let freqs = config.frequencies(None);
    assert_eq!(freqs.inv_freq.len(), 32);
    assert!(freqs.inv_freq[..8].iter().all(|f| *f > 0.0));
    assert!(freqs.inv_freq[8..].iter().all(|f| *f == 0.0));
    assert_rejects(
        proportional(0.01).validate(),
        &["partial_rotary_factor", "0.01"],
    );
    assert_rejects(
        proportional(2.0).validate(),
        &["partial_rotary_factor", "2"],
    );
    // A serde round trip keeps the variant.
    let json = serde_json::to_string(&config).unwrap();
    let back: RopeConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back.scaling, config.scaling);
}

/// Host-built position lists are bounded before memory is touched: a huge size is a panic
/// naming the operation and the size, never an abort, and counts never wrap.
#[test]
fn host_position_sizes_are_bounded() {
    use burn_rotary::{GridCoords, MropePositions, MropeSpan, Positions, VisionGrid};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[track_caller]
    fn panics_with(f: impl FnOnce(), needles: &[&str]) {
        let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        for needle in needles {
            assert!(
                message.contains(needle),
                "`{message}` does not mention `{needle}`"
            );
        }
    }
    let device = Default::default();
    let packed = |lengths: Vec<Vec<usize>>| {
        move || {
            drop(Positions::<burn::backend::NdArray>::packed(
                &lengths, &device,
            ))
        }
    };
    panics_with(
        packed(vec![vec![usize::MAX]]),
        &["Positions::packed", "2147483648"],
    );
    panics_with(
        packed(vec![vec![usize::MAX, 2]]),
        &["Positions::packed", "overflows"],
    );
    panics_with(
        packed(vec![vec![1 << 20]; 1 << 12]),
        &["Positions::packed", "4096 rows"],
    );

    let big = GridCoords::new(&[1 << 32, 1 << 32]);
    panics_with(
        || {
            let _ = big.len();
        },
        &["GridCoords::len", "overflows"],
    );
    panics_with(
        || {
            let _ = big.coords();
        },
        &["GridCoords::coords", "overflows"],
    );
    panics_with(
        || {
            let _ = GridCoords::new(&[1 << 16, 1 << 16]).coords();
        },
        &["GridCoords::coords", "8589934592"],
    );

    panics_with(
        || {
            let _ = MropePositions::build(&[MropeSpan::Text(usize::MAX)]);
        },
        &["MropePositions::build", "overflows"],
    );
    panics_with(
        || {
            let _ = MropePositions::build(&[MropeSpan::Text(1 << 40)]);
        },
        &["MropePositions::build", "3298534883328"],
    );
    let mut grid = VisionGrid::image(2, 2);
    grid.frames = 2;
    grid.temporal_step = f64::NAN;
    panics_with(
        || {
            let _ = MropePositions::build(&[MropeSpan::Grid(grid)]);
        },
        &["temporal_step NaN"],
    );
    panics_with(
        || {
            let _ = VisionGrid::image(2, 2).with_temporal_step(-1.0);
        },
        &["temporal_step -1"],
    );
    panics_with(
        || {
            let _ = VisionGrid::from_thw([1, 4, 4], 0);
        },
        &["spatial_merge_size 0"],
    );

    // A cache index past i64 saturates (out of range: a NaN row), never wraps to -1.
    let p = MropePositions::build(&[MropeSpan::Text(3)]);
    assert_eq!(p.next_position(usize::MAX), i64::MAX);
    assert_eq!(p.next_position(3), 3);
}

/// The image/video and model-level checkers compare the same way as the RoPE one: nothing to
/// compare, an identity case or a non-finite output fails; a missing field is named.
#[test]
fn nd_and_model_cases_that_check_nothing_fail() {
    use burn_rotary_suite::hf_fixture::GoldenFile;
    use burn_rotary_suite::nd_fixture::{NdFixture, OUTPUT_TOLERANCE};
    use serde_json::{json, Value};

    let text = std::fs::read_to_string("tests/fixtures/nd_rope_public.json").unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let case = file["cases"][0].clone();
    let device = Default::default();
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut case = case.clone();
        edit(&mut case);
        let fixture =
            NdFixture::from_value(json!({"generator": "test", "cases": [case]}), "test").unwrap();
        fixture.cases[0].check::<burn::backend::NdArray>(&device)
    };
    assert!(
        check(&|_| {}).unwrap() <= OUTPUT_TOLERANCE,
        "the unedited case passes"
    );
    let empty = |c: &mut Value| {
        let axes = c["coords"]["shape"][1].clone();
        c["coords"] = json!({"shape": [0, axes], "data": []});
        for key in ["q", "k", "q_out", "k_out"] {
            let mut shape = c[key]["shape"].clone();
            shape[2] = json!(0);
            c[key] = json!({"shape": shape, "data": []});
        }
    };
    let error = check(&empty).expect_err("empty tensors");
    assert!(error.contains("nothing to compare"), "{error}");
    let zero_coords = |c: &mut Value| {
        let n = c["coords"]["data"].as_array().unwrap().len();
        c["coords"]["data"] = json!(vec![0.0; n]);
    };
    let error = check(&zero_coords).expect_err("identity");
    assert!(error.contains("every position is 0"), "{error}");
    // An input beyond f32 rotates to inf/NaN: the error is NaN or inf, never a pass.
    let huge = |c: &mut Value| c["q"]["data"][0] = json!(1e300);
    let error = check(&huge).unwrap();
    assert!(error.is_nan() || error > OUTPUT_TOLERANCE, "{error}");

    let text = std::fs::read_to_string("tests/fixtures/hf_models_public.json").unwrap();
    let mut file: Value = serde_json::from_str(&text).unwrap();
    file["cases"][0]
        .as_object_mut()
        .unwrap()
        .remove("layer_idx");
    let path = std::env::temp_dir().join(format!("no_layer_idx_{}.json", std::process::id()));
    std::fs::write(&path, file.to_string()).unwrap();
    let error = GoldenFile::load(path.to_str().unwrap()).expect_err("missing layer_idx");
    std::fs::remove_file(&path).ok();
    assert!(error.contains("layer_idx"), "{error}");
}

/// A saved run is checked before it is used: its text hashes as when it was saved (the
/// vocabulary depends on it), its `model.json` is valid, and a generation is bounded before
/// anything is allocated. Each is an error naming the file or flag.
#[test]
fn saved_runs_are_checked_before_use() {
    use burn_rotary_suite::data::TaskSpec;
    use burn_rotary_suite::model::TransformerConfig;
    use burn_rotary_suite::train::checkpoint::{Checkpoint, Fingerprint, TrainState};
    use burn_rotary_suite::train::TrainConfig;
    use clap::Parser;

    let dir = std::env::temp_dir().join(format!("burn-rotary-saved-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("text.txt");
    std::fs::write(
        &text,
        "the quick brown fox jumps over the lazy dog. ".repeat(20),
    )
    .unwrap();
    let spec = TaskSpec::Text(text.clone());
    let vocab = spec.load().unwrap().vocab_size();
    let config = TransformerConfig::new(vocab, RopeConfig::new(16).with_max_positions(1 << 17));
    let mut state = TrainState::new(TrainConfig::new(), spec.clone());
    state.fingerprint.data = Fingerprint::of_data(&spec).unwrap();
    let checkpoint = Checkpoint::new(dir.join("run"));
    let device = Default::default();
    checkpoint
        .save(
            &config.init::<burn::backend::NdArray>(&device),
            &config,
            &state,
        )
        .unwrap();
    checkpoint.load_run().unwrap();

    // `generate` bounds what a prompt allocates: 40 000 characters need 6.4e9 scores.
    let generate = |args: &[&str]| {
        let argv = [
            "generate",
            "--checkpoint",
            checkpoint.dir().to_str().unwrap(),
        ];
        let cli = burn_rotary_suite::lm::cli::Cli::try_parse_from(argv.iter().chain(args)).unwrap();
        burn_rotary_suite::lm::cli::run_cli(cli).unwrap_err()
    };
    let long = "fox ".repeat(10_000);
    let error = generate(&["--prompt", &long]);
    assert!(error.contains("attention scores"), "{error}");

    // The text edited since: its vocabulary no longer matches the model.
    std::fs::write(
        &text,
        "an edited text, with new symbols: 0123456789 ".repeat(20),
    )
    .unwrap();
    let error = checkpoint.load_run().unwrap_err();
    assert!(error.contains("changed since it was saved"), "{error}");
    let error = generate(&["--prompt", "the fox"]);
    assert!(error.contains("changed since it was saved"), "{error}");

    // An invalid model.json (heads that do not divide the width): named, not a panic.
    let path = checkpoint.path("model.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["n_heads"] = serde_json::json!(3);
    std::fs::write(&path, json.to_string()).unwrap();
    let error = checkpoint.load_configs().unwrap_err();
    assert!(
        error.contains("model.json") && error.contains("n_heads 3"),
        "{error}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The train example refuses what it would otherwise ignore or hang on, before anything runs.
#[test]
fn train_refuses_flags_it_would_ignore_or_hang_on() {
    use burn_rotary_suite::cli::parse_with_given;
    use burn_rotary_suite::train::cli::{run_cli, Cli};

    let run = |args: &[&str]| {
        let argv = std::iter::once("train").chain(args.iter().copied());
        let (cli, given) = parse_with_given::<Cli, _, _>(argv).unwrap();
        run_cli(cli, &given).unwrap_err()
    };
    let out = std::env::temp_dir().join("burn-rotary-no-such-run");
    let out = out.to_str().unwrap();
    for flag in ["--lr", "--d-model", "--batch-size", "--seq-len"] {
        let error = run(&["--resume", "--out", out, flag, "32"]);
        assert!(
            error.starts_with(flag) && error.contains("saved value"),
            "{error}"
        );
    }
    let error = run(&["--eval", "--out", out, "--text", "x.txt"]);
    assert!(error.starts_with("--text"), "{error}");
    let error = run(&["--queries", "18446744073709551615", "--out", out]);
    assert!(
        error.contains("--queries") && error.contains("at most 21"),
        "{error}"
    );
    assert!(!std::path::Path::new(out).exists(), "nothing was written");

    // `generate --prompt-len` below the task's shortest prompt: refused, not raised silently.
    use burn_rotary_suite::data::{Retrieval, Task};
    let task = Task::Retrieval(Retrieval::default());
    let error = burn_rotary_suite::lm::vocab::sample_prompts(&task, 2, 1, 0).unwrap_err();
    assert!(error.contains("at least 4 tokens"), "{error}");
}

/// The JSON form of the configs of every fixture case (every scaling and layout, M-RoPE,
/// proportional, per-layer settings) — what `model.json` files and users' configs hold — is
/// pinned in `tests/fixtures/rope_config_golden.json`, and that form reads back to itself. A
/// change of the config's serde form (the Burn-free core crate of the Burn 0.22 line moves the
/// type) fails here. `BURN_ROTARY_BLESS=1` rewrites the file.
#[test]
fn config_json_form_is_pinned() {
    use burn_rotary_suite::hf_fixture::Fixture;
    use burn_rotary_suite::hf_models_fixture::ModelsFixture;
    use serde_json::{Map, Value};

    let mut configs = Map::new();
    let rope = Fixture::load("tests/fixtures/hf_rope_public.json").unwrap();
    for case in &rope.cases {
        let config = case.config().unwrap();
        configs.insert(case.name.clone(), serde_json::to_value(config).unwrap());
    }
    let text = std::fs::read_to_string("tests/fixtures/hf_models_public.json").unwrap();
    let models: ModelsFixture = serde_json::from_str(&text).unwrap();
    for case in &models.cases {
        let model = burn_rotary::ModelRopeConfig::from_hf_json(&case.config).unwrap();
        for (i, setting) in model.settings().iter().enumerate() {
            let value = serde_json::to_value(setting).unwrap();
            configs.insert(format!("{}#{i}", case.name), value);
        }
    }
    // What the fixtures do not hold: static NTK, proportional (Gemma 4), custom frequencies,
    // interleaved M-RoPE sections (Qwen3-VL).
    let by_hand = [
        (
            "by_hand/ntk_f4_d64",
            RopeConfig::new(64).with_scaling(RopeScaling::Ntk { factor: 4.0 }),
        ),
        (
            "by_hand/proportional_quarter_d64",
            RopeConfig::new(64).with_scaling(RopeScaling::Proportional(
                burn_rotary::ProportionalScaling {
                    factor: 1.0,
                    partial_rotary_factor: 0.25,
                },
            )),
        ),
        (
            "by_hand/inv_freq_d8",
            RopeConfig::new(8).with_inv_freq(Some(vec![1.0, 0.1, 0.01, 0.001])),
        ),
    ];
    for (name, config) in by_hand {
        config.validate().unwrap();
        configs.insert(name.into(), serde_json::to_value(config).unwrap());
    }
    let qwen3_vl = serde_json::json!({"model_type": "qwen3_vl", "head_dim": 128,
        "num_hidden_layers": 1, "rope_theta": 5e6,
        "rope_scaling": {"rope_type": "default", "mrope_section": [24, 20, 20]}});
    let model = burn_rotary::ModelRopeConfig::from_hf_json(&qwen3_vl).unwrap();
    let value = serde_json::to_value(&model.settings()[0]).unwrap();
    configs.insert("by_hand/qwen3_vl_mrope_interleaved".into(), value);
    let path = "tests/fixtures/rope_config_golden.json";
    if std::env::var_os("BURN_ROTARY_BLESS").is_some() {
        let file = serde_json::json!({"schema": "burn-rotary/config-json/v1", "configs": configs});
        std::fs::write(path, serde_json::to_string_pretty(&file).unwrap() + "\n").unwrap();
    }
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let golden = golden["configs"].as_object().expect("a `configs` object");
    assert_eq!(
        golden.keys().collect::<Vec<_>>(),
        configs.keys().collect::<Vec<_>>(),
        "the fixture cases changed: rewrite {path} with BURN_ROTARY_BLESS=1"
    );
    for (name, value) in golden {
        assert_eq!(
            &configs[name], value,
            "{name}: the config's JSON form changed"
        );
        let back: RopeConfig = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(
            &serde_json::to_value(&back).unwrap(),
            value,
            "{name}: no round trip"
        );
        let shown: Value = serde_json::from_str(&back.to_string()).unwrap();
        assert_eq!(&shown, value, "{name}: Display is not the JSON form");
    }
}
