//! A request's target and query, read as the apiserver reads them.

use std::collections::BTreeMap;

use serde_json::Value;

/// A request's target, parsed from its path.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// `group/version/resource` (`v1/namespaces` for the core group).
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub status: bool,
}

pub(super) fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group_version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ((*version).to_owned(), rest),
        ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => (Some(*namespace), rest),
        rest => (None, rest),
    };
    let (resource, name, status) = match rest {
        [resource] => (*resource, None, false),
        [resource, name] => (*resource, Some(*name), false),
        [resource, name, "status"] => (*resource, Some(*name), true),
        _ => return None,
    };
    Some(Target {
        resource: format!("{group_version}/{resource}"),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
        status,
    })
}

impl Target {
    /// The plural name alone (`vectorclusters`).
    pub fn plural(&self) -> &str {
        self.resource.rsplit('/').next().unwrap_or_default()
    }
}

pub(super) fn url_pairs(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), percent_decode(v)))
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One term of a label selector, as apimachinery
/// `staging/src/k8s.io/apimachinery/pkg/labels/selector.go` (`Parse`)
/// reads the equality-based forms: `k=v`, `k==v`, `k!=v`, `k` (exists),
/// `!k` (does not exist). Set-based terms (`in`, `notin`) are not served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

pub(super) fn selector(query: &BTreeMap<String, String>) -> Vec<Term> {
    let Some(text) = query.get("labelSelector") else {
        return Vec::new();
    };
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                Term::NotEquals(k.to_owned(), v.to_owned())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Term::Equals(k.to_owned(), v.to_owned())
            } else if let Some(k) = term.strip_prefix('!') {
                Term::Absent(k.to_owned())
            } else {
                Term::Exists(term.to_owned())
            }
        })
        .collect()
}

pub(super) fn matches(object: &Value, selector: &[Term]) -> bool {
    let label = |k: &str| object["metadata"]["labels"][k].as_str();
    selector.iter().all(|term| match term {
        Term::Equals(k, v) => label(k) == Some(v),
        // A missing label is "not equal" (selector.go, `NotEquals`).
        Term::NotEquals(k, v) => label(k) != Some(v),
        Term::Exists(k) => label(k).is_some(),
        Term::Absent(k) => label(k).is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_selector_reads_equality_and_existence_terms() {
        let query = url_pairs("labelSelector=a%3Db,c,!d,e!%3Df");
        let terms = selector(&query);
        assert_eq!(
            terms,
            vec![
                Term::Equals("a".into(), "b".into()),
                Term::Exists("c".into()),
                Term::Absent("d".into()),
                Term::NotEquals("e".into(), "f".into()),
            ]
        );
        let object = json!({"metadata": {"labels": {"a": "b", "c": "x"}}});
        assert!(matches(&object, &terms));
        let object = json!({"metadata": {"labels": {"a": "b", "c": "x", "d": "y"}}});
        assert!(!matches(&object, &terms));
    }

    #[test]
    fn a_path_names_resource_namespace_name_and_subresource() {
        let target = parse("/apis/quartermaster.dev/v1alpha1/namespaces/t/vectorclusters/a/status")
            .unwrap_or_else(|| panic!("parses"));
        assert_eq!(target.resource, "quartermaster.dev/v1alpha1/vectorclusters");
        assert_eq!(target.namespace.as_deref(), Some("t"));
        assert_eq!(target.name.as_deref(), Some("a"));
        assert!(target.status);
        let ns = parse("/api/v1/namespaces/t").unwrap_or_else(|| panic!("parses"));
        assert_eq!(ns.resource, "v1/namespaces");
        assert_eq!(ns.name.as_deref(), Some("t"));
        assert_eq!(ns.namespace, None);
    }
}
