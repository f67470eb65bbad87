//! [`HfParams`]: typed, error-reporting getters over a JSON object of a HuggingFace config —
//! what every reader of `config.json` fields (the scalings, the single-setting and the model
//! readers) shares.

use serde_json::{Map, Value};

use crate::error::RopeError;

/// A view of a JSON object with typed, error-reporting getters.
pub(crate) struct HfParams<'a>(pub(crate) &'a Map<String, Value>);

impl HfParams<'_> {
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn f64(&self, key: &'static str) -> Result<Option<f64>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| RopeError::invalid(key, v, "a number"))
            })
            .transpose()
    }

    pub(crate) fn usize(&self, key: &'static str) -> Result<Option<usize>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_u64()
                    .or_else(|| {
                        v.as_f64()
                            // Integers a JSON float holds exactly (2^53): beyond, `as` would
                            // saturate to a plausible wrong number.
                            .filter(|f| {
                                f.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(f)
                            })
                            .map(|f| f as u64)
                    })
                    .map(|n| n as usize)
                    .ok_or_else(|| RopeError::invalid(key, v, "a non-negative integer"))
            })
            .transpose()
    }

    pub(crate) fn bool(&self, key: &'static str) -> Result<Option<bool>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_bool()
                    .ok_or_else(|| RopeError::invalid(key, v, "true or false"))
            })
            .transpose()
    }

    pub(crate) fn usize_list(&self, key: &'static str) -> Result<Option<Vec<usize>>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_array()
                    .and_then(|items| {
                        items
                            .iter()
                            .map(|i| i.as_u64().map(|n| n as usize))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| RopeError::invalid(key, v, "a list of non-negative integers"))
            })
            .transpose()
    }

    pub(crate) fn f64_list(&self, key: &'static str) -> Result<Option<Vec<f64>>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_array()
                    .and_then(|items| items.iter().map(Value::as_f64).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| RopeError::invalid(key, v, "a list of numbers"))
            })
            .transpose()
    }

    pub(crate) fn str(&self, key: &'static str) -> Result<Option<&str>, RopeError> {
        self.get(key)
            .map(|v| {
                v.as_str()
                    .ok_or_else(|| RopeError::invalid(key, v, "a string"))
            })
            .transpose()
    }
}
