//! Field-level validation errors, collected so that one response names every
//! field at fault rather than the first.

use std::fmt;
use std::ops::RangeInclusive;

use serde::Serialize;

/// The region a resource asks for, trimmed, if it may be looked up:
/// present, and text PostgreSQL can take (a NUL is refused here, not by the
/// database as a 500).
pub fn region(raw: &str) -> Result<&str, &'static str> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        Err("is required")
    } else if trimmed.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(trimmed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<FieldError>);

impl ValidationErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// `Ok(value)` when nothing was collected.
    pub fn into_result<T>(self, value: T) -> Result<T, crate::Error> {
        self.finish(Some(value))
    }

    /// The value parsed alongside these errors: `Ok` only when nothing was
    /// collected and the value is there (a parser returns `None` only after
    /// recording why).
    pub fn finish<T>(mut self, value: Option<T>) -> Result<T, crate::Error> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            Some(_) => Err(crate::Error::Validation(self)),
            None => {
                if self.0.is_empty() {
                    self.add("body", "the request is not valid");
                }
                Err(crate::Error::Validation(self))
            }
        }
    }

    /// Records `result`'s error under `field` and passes its value on.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.add(field, e.to_string())).ok()
    }

    /// A whole number from the request that must lie in `range`.
    pub fn in_range(&mut self, field: &str, value: i64, range: RangeInclusive<u32>) -> Option<u32> {
        match u32::try_from(value) {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.add(
                    field,
                    format!(
                        "must be a whole number from {} to {}; got {value}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.0 {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", e.field, e.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_outside_the_range_are_named_with_the_range() {
        let mut errors = ValidationErrors::default();
        assert_eq!(errors.in_range("nodes", 3, 1..=16), Some(3));
        assert_eq!(errors.in_range("nodes", -1, 1..=16), None);
        assert_eq!(errors.in_range("nodes", 1 << 40, 1..=16), None);
        assert_eq!(
            errors.to_string(),
            "nodes: must be a whole number from 1 to 16; got -1; \
             nodes: must be a whole number from 1 to 16; got 1099511627776"
        );
    }

    #[test]
    fn no_errors_means_ok() {
        assert_eq!(ValidationErrors::default().into_result(7).unwrap(), 7);
        assert!(
            ValidationErrors::single("name", "bad")
                .into_result(7)
                .is_err()
        );
    }
}
