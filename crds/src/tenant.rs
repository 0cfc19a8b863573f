//! What every tenant namespace holds whatever runs in it, and how a tenant's
//! resources are labelled there: the same objects whichever plane applies
//! them (the control plane's push path, or the data plane's sync loop).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, ResourceQuotaSpec, Secret};
use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicySpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use uuid::Uuid;

use crate::names::LABEL_TENANT_ID;

/// The field manager of everything applied for a tenant.
pub const FIELD_MANAGER: &str = "quartermaster";
pub const LABEL_ORGANIZATION: &str = "quartermaster.dev/organization";
/// The Secret in each tenant namespace that backup Jobs read.
pub const BACKUP_CREDENTIALS_SECRET: &str = "quartermaster-backup-credentials";

/// The namespace that holds an organization's clusters and endpoints.
pub fn namespace_of(organization_id: Uuid) -> String {
    format!("qm-{}", organization_id.simple())
}

/// A tenant object's metadata: its name, and the organization's labels.
pub fn meta(name: &str, namespace: Option<&str>, organization_id: Uuid) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([
            (LABEL_ORGANIZATION.to_owned(), organization_id.to_string()),
            (
                "app.kubernetes.io/managed-by".to_owned(),
                FIELD_MANAGER.to_owned(),
            ),
        ])),
        ..ObjectMeta::default()
    }
}

/// A tenant's resource's metadata: [`meta`] in its namespace, with the
/// control plane's id of it and the `annotations` it carries.
pub fn resource_meta(
    name: &str,
    organization_id: Uuid,
    id: Uuid,
    annotations: Option<BTreeMap<String, String>>,
) -> ObjectMeta {
    let mut metadata = meta(name, Some(&namespace_of(organization_id)), organization_id);
    if let Some(labels) = metadata.labels.as_mut() {
        labels.insert(LABEL_TENANT_ID.to_owned(), id.to_string());
    }
    metadata.annotations = annotations;
    metadata
}

/// The tenant namespace and its guard rails, in the order to apply them.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub namespace: Namespace,
    pub quota: ResourceQuota,
    pub default_deny: NetworkPolicy,
}

pub fn baseline(organization_id: Uuid) -> Baseline {
    let ns = namespace_of(organization_id);
    Baseline {
        namespace: Namespace {
            metadata: meta(&ns, None, organization_id),
            ..Namespace::default()
        },
        quota: quota(organization_id, &ns),
        default_deny: default_deny(meta("default-deny", Some(&ns), organization_id)),
    }
}

/// No load balancers or node ports (clusters are reached through the
/// platform's ingress), and bounded counts.
fn quota(organization_id: Uuid, namespace: &str) -> ResourceQuota {
    let hard = [
        ("pods", "200"),
        ("persistentvolumeclaims", "200"),
        ("services.loadbalancers", "0"),
        ("services.nodeports", "0"),
    ];
    ResourceQuota {
        metadata: meta("quartermaster", Some(namespace), organization_id),
        spec: Some(ResourceQuotaSpec {
            hard: Some(
                hard.iter()
                    .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                    .collect(),
            ),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// The bucket's key, as the tenant's backup Jobs read it.
pub fn backup_credentials(organization_id: Uuid, access_key_id: &str, secret: &str) -> Secret {
    Secret {
        metadata: meta(
            BACKUP_CREDENTIALS_SECRET,
            Some(&namespace_of(organization_id)),
            organization_id,
        ),
        type_: Some("Opaque".to_owned()),
        string_data: Some(BTreeMap::from([
            ("AWS_ACCESS_KEY_ID".to_owned(), access_key_id.to_owned()),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), secret.to_owned()),
        ])),
        ..Secret::default()
    }
}

/// The tenant namespace's baseline: every pod selected, no ingress rule,
/// so nothing gets in that no other policy admits.
pub fn default_deny(metadata: ObjectMeta) -> NetworkPolicy {
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ..NetworkPolicySpec::default()
        }),
    }
}
