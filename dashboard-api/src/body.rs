//! How request bodies read JSON values, field by field.
//!
//! A whole number is what JSON Schema's `integer` means: `3` and `3.0`
//! alike (JSON has one number type), anything with a fraction refused. An
//! optional field may be left out, but not sent as `null`: `null` is not a
//! value of the field, and taking it for the default hid mistakes.

use serde::de::{self, Deserialize, Deserializer, Visitor};

struct Whole;

impl Visitor<'_> for Whole {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a whole number")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        // 2^63 is exact in f64; every whole f64 below it fits an i64.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "whole and within range, checked above"
            )]
            return Ok(v as i64);
        }
        Err(E::invalid_value(de::Unexpected::Float(v), &self))
    }
}

/// A whole number.
pub fn whole<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(Whole)
}

/// A whole number that may be left out (with `#[serde(default)]`).
pub fn optional_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    whole(d).map(Some)
}

/// A whole number or `null`, where `null` means something (no limit).
pub fn nullable_whole<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Number(#[serde(deserialize_with = "whole")] i64);
    Option::<Number>::deserialize(d).map(|n| n.map(|Number(n)| n))
}

/// Any value that may be left out (with `#[serde(default)]`), never `null`.
pub fn optional<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(deserialize_with = "super::whole")]
        n: i64,
        #[serde(default, deserialize_with = "super::optional_whole")]
        m: Option<i64>,
        #[serde(default, deserialize_with = "super::optional")]
        s: Option<String>,
    }

    fn parse(json: &str) -> Result<Body, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_as_json_schema_means_them() {
        let body = |n, m| Body { n, m, s: None };
        assert_eq!(parse(r#"{"n": 3}"#), Ok(body(3, None)));
        assert_eq!(
            parse(r#"{"n": 264637.0, "m": -2.0}"#),
            Ok(body(264_637, Some(-2)))
        );
        assert_eq!(
            parse(r#"{"n": -9223372036854775808}"#),
            Ok(body(i64::MIN, None))
        );
        for bad in [
            r#"{"n": 1.5}"#,
            r#"{"n": 9223372036854775808}"#,
            r#"{"n": 1e19}"#,
            r#"{"n": "3"}"#,
        ] {
            assert!(
                parse(bad).unwrap_err().contains("expected a whole number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_optional_field_may_be_left_out_but_not_null() {
        assert_eq!(
            parse(r#"{"n": 1, "s": "x"}"#).map(|b| b.s),
            Ok(Some("x".to_owned()))
        );
        assert!(
            parse(r#"{"n": 1, "m": null}"#)
                .unwrap_err()
                .contains("null")
        );
        assert!(
            parse(r#"{"n": 1, "s": null}"#)
                .unwrap_err()
                .contains("null")
        );
    }
}
