//! Qdrant engine versions: parsing, ordering and the supported range.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A released Qdrant version, `MAJOR.MINOR.PATCH` (a leading `v` is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EngineVersion {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl EngineVersion {
    /// The oldest version the operator knows how to run in distributed mode.
    pub const MINIMUM: EngineVersion = EngineVersion::new(1, 10, 0);
    /// What a new cluster runs when its spec names no version.
    pub const DEFAULT: EngineVersion = EngineVersion::new(1, 13, 6);

    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        EngineVersion {
            major,
            minor,
            patch,
        }
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEngineVersion {
    #[error("`{0}` is not a version of the form MAJOR.MINOR.PATCH, for example 1.13.6")]
    Malformed(String),
    #[error("version {0} is older than the oldest supported version {min}", min = EngineVersion::MINIMUM)]
    Unsupported(EngineVersion),
}

impl FromStr for EngineVersion {
    type Err = InvalidEngineVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || InvalidEngineVersion::Malformed(s.to_owned());
        let digits = s.strip_prefix('v').unwrap_or(s);
        let mut parts = digits.split('.');
        let mut next = || -> Result<u16, InvalidEngineVersion> {
            let part = parts.next().ok_or_else(malformed)?;
            // `u16::from_str` accepts a leading `+`; a version never has one.
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(malformed());
            }
            part.parse().map_err(|_| malformed())
        };
        let version = EngineVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(malformed());
        }
        if version < EngineVersion::MINIMUM {
            return Err(InvalidEngineVersion::Unsupported(version));
        }
        Ok(version)
    }
}

impl Serialize for EngineVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EngineVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for EngineVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EngineVersion".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^v?[0-9]+\\.[0-9]+\\.[0-9]+$",
            "description": "A Qdrant release, MAJOR.MINOR.PATCH"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_with_and_without_a_leading_v() {
        assert_eq!("1.13.6".parse(), Ok(EngineVersion::new(1, 13, 6)));
        assert_eq!("v1.12.0".parse(), Ok(EngineVersion::new(1, 12, 0)));
    }

    #[test]
    fn rejects_what_is_not_a_release_version() {
        for bad in [
            "", "1", "1.13", "1.13.6.1", "1.x.0", "latest", "1.13.+6", " 1.13.6",
        ] {
            assert_eq!(
                bad.parse::<EngineVersion>(),
                Err(InvalidEngineVersion::Malformed(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_versions_older_than_the_minimum() {
        assert_eq!(
            "1.9.9".parse::<EngineVersion>(),
            Err(InvalidEngineVersion::Unsupported(EngineVersion::new(
                1, 9, 9
            )))
        );
    }

    #[test]
    fn orders_numerically_not_lexically() {
        assert!(EngineVersion::new(1, 13, 0) > EngineVersion::new(1, 9, 10));
        assert!(EngineVersion::new(2, 0, 0) > EngineVersion::new(1, 99, 99));
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(major in 1u16..100, minor in 10u16..1000, patch: u16) {
            let version = EngineVersion::new(major, minor, patch);
            prop_assert_eq!(version.to_string().parse::<EngineVersion>(), Ok(version));
        }
    }
}
