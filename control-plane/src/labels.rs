//! Labels: key/value metadata a customer puts on clusters and endpoints to
//! allocate their cost (`team: search`). They are checked as Kubernetes
//! checks labels, so they mean the same here as in a manifest, but they are
//! not part of the spec: changing them bumps no generation and reaches no
//! data plane. Their history (which labels held when) is metering's, so
//! that usage is read under the labels in force when its hour started.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::validation::ValidationErrors;

/// How many labels one resource may carry. Kubernetes sets no count; a
/// bound keeps a resource's row and every report's `Tags` small.
pub const MAX_LABELS: usize = 64;

/// A DNS-1123 subdomain's and a qualified name's longest, as in Kubernetes'
/// `k8s.io/apimachinery/pkg/util/validation` (`DNS1123SubdomainMaxLength`,
/// `qualifiedNameMaxLength`, `LabelValueMaxLength`).
const PREFIX_MAX: usize = 253;
const NAME_MAX: usize = 63;

/// A resource's labels, each key and value valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// `raw` if every key and value is valid, or `None` after naming each
    /// one at fault as `labels.<key>` (`labels` for the count).
    pub fn parse(raw: &BTreeMap<String, String>, errors: &mut ValidationErrors) -> Option<Labels> {
        let before = errors.errors().len();
        if raw.len() > MAX_LABELS {
            errors.add(
                "labels",
                format!("at most {MAX_LABELS} labels; got {}", raw.len()),
            );
        }
        for (key, value) in raw {
            let field = format!("labels.{key}");
            if let Err(message) = valid_key(key) {
                errors.add(field, message);
            } else if let Err(message) = check_value(value) {
                errors.add(field, message);
            }
        }
        (errors.errors().len() == before).then(|| Labels(raw.clone()))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    pub fn into_map(self) -> BTreeMap<String, String> {
        self.0
    }
}

/// A label key, as Kubernetes' `IsQualifiedName` takes it
/// (`k8s.io/apimachinery/pkg/util/validation/validation.go`, since moved to
/// `pkg/api/validate/content` as `IsLabelKey`): an optional prefix that is
/// a DNS-1123 subdomain of at most 253 characters and a `/`, then a name of
/// 1 to 63 characters, alphanumeric at both ends with `-`, `_`, `.` inside.
pub fn valid_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before '/' must not be empty".into());
        }
        if prefix.len() > PREFIX_MAX {
            return Err(format!(
                "the prefix must be at most {PREFIX_MAX} characters"
            ));
        }
        if !is_dns1123_subdomain(prefix) {
            return Err(
                "the prefix must be a lowercase DNS subdomain (RFC 1123), such as example.com"
                    .into(),
            );
        }
    }
    if name.is_empty() {
        return Err("the name must not be empty".into());
    }
    qualified(name).map_err(|m| format!("the name {m}"))
}

/// A label value, as Kubernetes' `IsValidLabelValue` takes it: empty, or
/// at most 63 characters of a qualified name's.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    qualified(value).map_err(|m| format!("the value {m}"))
}

/// Kubernetes' `qualifiedNameFmt`: `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`,
/// at most 63 characters.
fn qualified(s: &str) -> Result<(), String> {
    if s.len() > NAME_MAX {
        return Err(format!("must be at most {NAME_MAX} characters"));
    }
    let inner_ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    if inner_ok && ends_ok {
        Ok(())
    } else {
        Err(
            "must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
                .into(),
        )
    }
}

/// Kubernetes' `IsDNS1123Subdomain` pattern: dot-separated DNS-1123 labels
/// (lowercase alphanumerics and `-`, alphanumeric at both ends).
fn is_dns1123_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && label.bytes().next().is_some_and(|b| b != b'-')
            && label.bytes().last().is_some_and(|b| b != b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Labels, Vec<String>> {
        let raw = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut errors = ValidationErrors::default();
        Labels::parse(&raw, &mut errors)
            .ok_or_else(|| errors.errors().iter().map(|e| e.field.clone()).collect())
    }

    #[test]
    fn keys_and_values_kubernetes_accepts_are_accepted() {
        let long_prefix = format!("{}.example.com", "a".repeat(60));
        for key in [
            "team",
            "a",
            "cost-center",
            "app.kubernetes.io/name",
            "Team_2",
            "example.com/x.y-z",
            &"k".repeat(63),
            &format!("{long_prefix}/team"),
        ] {
            assert!(parse(&[(key, "v")]).is_ok(), "{key}");
        }
        for value in ["", "search", "A.b-c_1", &"v".repeat(63)] {
            assert!(parse(&[("team", value)]).is_ok(), "{value:?}");
        }
    }

    #[test]
    fn keys_and_values_kubernetes_refuses_are_named_by_their_key() {
        for key in [
            "",
            "-team",
            "team-",
            "te am",
            "/team",
            "example.com/",
            "Example.com/team",
            "a/b/c",
            "ex_ample.com/team",
            &"k".repeat(64),
            &format!("{}/team", "a".repeat(254)),
            "tëam",
        ] {
            assert_eq!(
                parse(&[(key, "v")]).unwrap_err(),
                [format!("labels.{key}")],
                "{key:?}"
            );
        }
        for value in ["-x", "x-", "a b", "a/b", &"v".repeat(64), "ünï"] {
            assert_eq!(
                parse(&[("team", value)]).unwrap_err(),
                ["labels.team"],
                "{value:?}"
            );
        }
    }

    #[test]
    fn every_bad_label_is_named_and_too_many_is_named_once() {
        assert_eq!(
            parse(&[("ok", "fine"), ("-a", "x"), ("b", "-y")]).unwrap_err(),
            ["labels.-a", "labels.b"]
        );
        let many: Vec<(String, String)> = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        let pairs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(parse(&pairs).unwrap_err(), ["labels"]);
        assert!(parse(&pairs[..MAX_LABELS]).is_ok());
    }
}
