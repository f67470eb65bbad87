//! Bad configurations are rejected with an error naming the field and its value, and good
//! ones survive a JSON round trip.

use burn_rotary::{LongRopeScaling, RopeConfig, RopeError, RopeScaling, YarnScaling};

fn yarn(beta_fast: f64, beta_slow: f64) -> RopeScaling {
    RopeScaling::Yarn(YarnScaling {
        factor: 4.0,
        original_max_position_embeddings: 2048,
        beta_fast,
        beta_slow,
        mscale: None,
        mscale_all_dim: None,
        attention_factor: None,
        truncate: true,
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
