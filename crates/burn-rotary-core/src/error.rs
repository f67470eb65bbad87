//! The error type of every fallible call in this crate.

use core::fmt;

/// Why a RoPE configuration (or a HuggingFace `config.json`) was rejected.
///
/// Every variant names the offending field and, where there is one, its value, so that the
/// message alone tells the user what to fix.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RopeError {
    /// A field holds a value outside its domain.
    InvalidValue {
        /// The field, e.g. `rotary_dim` or `scaling.factor`.
        field: &'static str,
        /// The rejected value, as the user wrote it.
        value: String,
        /// What the field must be.
        expected: String,
    },
    /// A field that the chosen variant needs is absent.
    MissingField {
        /// The missing field.
        field: &'static str,
        /// The context that needs it, e.g. `rope_type "yarn"`.
        context: String,
    },
    /// A HuggingFace `rope_type` (or `type`) that this crate does not implement.
    UnknownRopeType {
        /// The rope_type as written.
        name: String,
        /// The rope_types this crate reads, comma-separated.
        known: String,
    },
    /// The input is not valid JSON, or not of the expected form.
    Json(String),
}

impl RopeError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self::InvalidValue {
            field,
            value: value.to_string(),
            expected: expected.into(),
        }
    }

    pub(crate) fn missing(field: &'static str, context: impl Into<String>) -> Self {
        Self::MissingField {
            field,
            context: context.into(),
        }
    }
}

impl fmt::Display for RopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidValue {
                field,
                value,
                expected,
            } => write!(f, "invalid `{field}` = {value}: expected {expected}"),
            Self::MissingField { field, context } => {
                write!(f, "missing `{field}`, required by {context}")
            }
            Self::UnknownRopeType { name, known } => {
                write!(f, "unknown rope_type \"{name}\": expected one of {known}")
            }
            Self::Json(message) => write!(f, "malformed RoPE JSON: {message}"),
        }
    }
}

impl std::error::Error for RopeError {}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), RopeError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(RopeError::invalid(field, value, "a finite number > 0"))
    }
}
