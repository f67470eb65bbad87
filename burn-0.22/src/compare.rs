//! The one way the fixture checkers (`hf_parity`) and the tests compare numbers:
//!
//! - the largest absolute difference, where a NaN wins and stays — a NaN or an infinity on
//!   either side fails, instead of vanishing into `f64::max`;
//! - nothing to compare (empty, or of different lengths) is an error, never a vacuous 0;
//! - a case whose rotation is the identity whatever the config says (every input or every
//!   position 0) is refused: it checks nothing.

/// The larger of two errors; NaN wins (a NaN error must fail, not vanish).
pub fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `max |actual - expected|`: NaN if any difference is NaN (`inf - inf` included), an error if
/// the lengths differ or there is nothing to compare.
pub fn max_abs_diff<A, E>(actual: &[A], expected: &[E]) -> Result<f64, String>
where
    A: Copy + Into<f64>,
    E: Copy + Into<f64>,
{
    if actual.len() != expected.len() {
        return Err(format!(
            "{} values to compare with {} expected",
            actual.len(),
            expected.len()
        ));
    }
    if actual.is_empty() {
        return Err("no values: nothing to compare".into());
    }
    Ok(actual.iter().zip(expected).fold(0.0, |worst, (&a, &e)| {
        nan_max(worst, (a.into() - e.into()).abs())
    }))
}

/// Why a rotation case checks nothing, if it does not: every input value is 0, or every
/// position is 0 (the rotation is then the identity, up to the attention factor, whatever the
/// frequencies).
pub fn vacuous(inputs: &[&[f64]], positions: &[i64]) -> Option<String> {
    if inputs.iter().all(|v| v.is_empty()) {
        return Some("no input values: nothing to compare".into());
    }
    if inputs.iter().all(|v| v.iter().all(|&x| x == 0.0)) {
        return Some("every input value is 0: any rotation passes, the case checks nothing".into());
    }
    if positions.iter().all(|&p| p == 0) {
        return Some(
            "every position is 0: the rotation is the identity whatever the config, the case \
             checks nothing"
                .into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_fail_wherever_they_are() {
        assert_eq!(max_abs_diff(&[1.0, 2.0], &[1.0, 2.5]), Ok(0.5));
        // A NaN first, then larger finite errors: still NaN.
        assert!(
            max_abs_diff(&[f64::NAN, 9.0], &[0.0, 0.0])
                .unwrap()
                .is_nan()
        );
        assert!(
            max_abs_diff(&[f64::INFINITY], &[f64::INFINITY])
                .unwrap()
                .is_nan()
        );
        assert_eq!(max_abs_diff(&[f64::INFINITY], &[0.0]), Ok(f64::INFINITY));
        assert!(max_abs_diff(&[1.0f32], &[1.0f64, 2.0]).is_err());
        assert!(max_abs_diff::<f64, f64>(&[], &[]).is_err());
    }

    #[test]
    fn identity_cases_are_vacuous() {
        assert!(vacuous(&[&[0.0, 0.0], &[0.0]], &[1, 2]).is_some());
        assert!(vacuous(&[&[1.0]], &[0, 0]).is_some());
        assert!(vacuous(&[&[1.0]], &[0, 1]).is_none());
        let empty: &[f64] = &[];
        assert!(
            vacuous(&[empty, empty], &[])
                .unwrap()
                .contains("nothing to compare")
        );
    }
}
