//! Names and labels of everything the operator creates for a cluster, in one
//! place so that length limits are enforced once.

use std::collections::BTreeMap;

/// Longest cluster name: its StatefulSet's pods get `-<ordinal>` and a
/// `controller-revision-hash` label of name plus 11 characters, which must
/// stay within the 63 characters of a label value.
pub const MAX_CLUSTER_NAME: usize = 40;

pub const MANAGED_BY: &str = "quartermaster-operator";
pub const LABEL_CLUSTER: &str = "quartermaster.dev/cluster";
/// Why a backup was taken: `scheduled` or `pre-upgrade` (a backup the
/// control plane asked for carries none).
pub const LABEL_ORIGIN: &str = "quartermaster.dev/origin";
/// Set by the control plane to wake a scaled-to-zero endpoint.
pub const WAKE_ANNOTATION: &str = "quartermaster.dev/wake-requested-at";
/// The control plane's id of a resource, on the custom resource it applies.
pub const LABEL_TENANT_ID: &str = "quartermaster.dev/id";
/// The inference endpoint an object belongs to (its name); on the
/// endpoint's Service, so also on its EndpointSlices, which Kubernetes
/// labels as their Service.
pub const LABEL_ENDPOINT: &str = "quartermaster.dev/endpoint";
/// The key in an endpoint's Secret that holds its engine's API key.
pub const ENDPOINT_API_KEY: &str = "api-key";

/// The Secret holding endpoint `name`'s engine API key.
pub fn endpoint_secret(name: &str) -> String {
    format!("{name}-api-key")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub cluster: String,
    pub statefulset: String,
    pub headless_service: String,
    pub client_service: String,
    pub api_key_secret: String,
    pub config_map: String,
    pub pdb: String,
    pub network_policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster name `{0}` is longer than {MAX_CLUSTER_NAME} characters")]
pub struct NameTooLong(pub String);

impl Names {
    pub fn of(cluster: &str) -> Result<Names, NameTooLong> {
        if cluster.len() > MAX_CLUSTER_NAME {
            return Err(NameTooLong(cluster.to_owned()));
        }
        Ok(Names {
            cluster: cluster.to_owned(),
            statefulset: cluster.to_owned(),
            headless_service: format!("{cluster}-peers"),
            client_service: cluster.to_owned(),
            api_key_secret: format!("{cluster}-api-keys"),
            config_map: format!("{cluster}-config"),
            pdb: cluster.to_owned(),
            network_policy: cluster.to_owned(),
        })
    }

    /// Labels that select this cluster's pods.
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_owned(), "qdrant".to_owned()),
            (
                "app.kubernetes.io/instance".to_owned(),
                self.cluster.clone(),
            ),
        ])
    }

    /// The selector as a string, for `status.selector` and list calls.
    pub fn selector_string(&self) -> String {
        self.selector()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Labels on every object the operator creates for the cluster.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.selector();
        labels.insert(
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGED_BY.to_owned(),
        );
        labels.insert(LABEL_CLUSTER.to_owned(), self.cluster.clone());
        labels
    }

    pub fn pod(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.statefulset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_name_keeps_every_derived_name_within_limits() {
        let name = "a".repeat(MAX_CLUSTER_NAME);
        let names = Names::of(&name).unwrap();
        for derived in [
            &names.headless_service,
            &names.api_key_secret,
            &names.config_map,
        ] {
            assert!(derived.len() <= 63, "{derived}");
        }
        // StatefulSet revision label: name + '-' + 10-character hash.
        assert!(names.statefulset.len() + 11 <= 63);
        assert!(Names::of(&format!("{name}a")).is_err());
    }

    #[test]
    fn the_selector_string_lists_the_selector_labels() {
        let names = Names::of("search").unwrap();
        assert_eq!(
            names.selector_string(),
            "app.kubernetes.io/instance=search,app.kubernetes.io/name=qdrant"
        );
        assert_eq!(names.pod(2), "search-2");
    }
}
