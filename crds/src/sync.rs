//! The sync protocol of a connected data plane: the operator enrolls once
//! with a one-time token, then pulls its desired state from the control
//! plane and reports what it observes, over HTTPS with its own credential
//! (`Authorization: Bearer qmdc_…`). The control plane keeps no kubeconfig
//! for such a data plane, and nothing here carries a secret of the data
//! plane's: the backup key and bucket are the operator chart's.
//!
//! Every change to a data plane's desired state takes the next value of one
//! sequence, in commit order, so `since` is a complete cursor: an answer
//! holds every resource whose desired state changed after it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::backup::{BackupStatus, VectorClusterBackupSpec};
use crate::inference_endpoint::{InferenceEndpointSpec, InferenceEndpointStatus};
use crate::vector_cluster::{VectorClusterSpec, VectorClusterStatus};

/// `POST`: exchanges an [`Enrollment`] for an [`Enrolled`] credential.
pub const ENROLL_PATH: &str = "/v1/data-plane/enroll";
/// `GET ?since=<version>&wait=<seconds>`: a [`DesiredState`], or
/// `204 No Content` when nothing changed within `wait`.
pub const DESIRED_PATH: &str = "/v1/data-plane/desired-state";
/// `POST` a [`StatusReport`]: what the data plane observes.
pub const STATUS_PATH: &str = "/v1/data-plane/status";
/// `POST`: a new credential ([`Enrolled`]); the one that asked stays valid
/// for [`ROTATION_GRACE_SECONDS`].
pub const ROTATE_PATH: &str = "/v1/data-plane/credential";
/// The longest a desired-state request may wait for a change.
pub const MAX_WAIT_SECONDS: u64 = 55;
/// How long a rotated-out credential keeps working, so that a data plane
/// that asked for a new one and lost the answer is not locked out.
pub const ROTATION_GRACE_SECONDS: i64 = 600;
/// The prefix of an enrollment token; a credential starts with
/// [`CREDENTIAL_PREFIX`].
pub const ENROLLMENT_PREFIX: &str = "qmen_";
pub const CREDENTIAL_PREFIX: &str = "qmdc_";
/// The annotation on each applied resource naming the control plane's
/// generation of its spec.
pub const GENERATION_ANNOTATION: &str = "quartermaster.dev/generation";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub token: String,
}

/// A data plane's credential, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    pub data_plane: Identity,
    pub credential: String,
}

impl std::fmt::Debug for Enrolled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrolled")
            .field("data_plane", &self.data_plane)
            .field("credential", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: Uuid,
    pub name: String,
    pub region: String,
    /// For a customer-run data plane, the one organization it serves.
    pub organization_id: Option<Uuid>,
}

/// The desired state of a data plane, whole (`complete`, for `since=0`) or
/// as the resources changed since the version asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesiredState {
    /// The version this answer brings the data plane to: ask from it next.
    pub version: i64,
    /// The whole state: a resource not in it is not the control plane's.
    pub complete: bool,
    pub resources: Vec<Desired>,
}

/// One resource as the control plane wants it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Desired {
    /// The control plane's id: the `quartermaster.dev/id` label.
    pub id: Uuid,
    /// The tenant: its namespace is `qm-<id without dashes>`.
    pub organization_id: Uuid,
    pub name: String,
    /// The control plane's generation of the spec
    /// ([`GENERATION_ANNOTATION`]).
    pub generation: i64,
    /// The version of this change.
    pub version: i64,
    /// Delete it, then report it gone.
    pub delete: bool,
    #[serde(flatten)]
    pub object: Object,
}

/// What a desired resource is. A cluster's backup policy names a
/// destination with an empty bucket: the data plane puts in its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Object {
    VectorCluster {
        spec: Box<VectorClusterSpec>,
        /// Load this backup (a `VectorClusterBackup` of the namespace)
        /// into the cluster once it is ready.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restore_from: Option<String>,
    },
    InferenceEndpoint {
        spec: Box<InferenceEndpointSpec>,
        /// A wake asked for: the endpoint scales up from zero.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wake_requested_at: Option<DateTime<Utc>>,
    },
    /// A backup taken by hand.
    VectorClusterBackup { spec: VectorClusterBackupSpec },
    /// A resource whose record went without the data plane reporting it
    /// gone (its organization was deleted): delete it; `delete` is true.
    Removed { of: Kind },
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::VectorCluster { .. } => Kind::VectorCluster,
            Object::InferenceEndpoint { .. } => Kind::InferenceEndpoint,
            Object::VectorClusterBackup { .. } => Kind::VectorClusterBackup,
            Object::Removed { of } => *of,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    VectorCluster,
    InferenceEndpoint,
    VectorClusterBackup,
    VectorClusterRestore,
}

/// What a data plane observed, in one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    pub reports: Vec<Report>,
}

/// One resource as the data plane sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The control plane's id (for a restore: its cluster's).
    pub id: Uuid,
    pub organization_id: Uuid,
    #[serde(flatten)]
    pub observed: Observed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Observed {
    VectorCluster {
        #[serde(flatten)]
        applied: Applied,
        status: Option<Box<VectorClusterStatus>>,
    },
    InferenceEndpoint {
        #[serde(flatten)]
        applied: Applied,
        status: Option<Box<InferenceEndpointStatus>>,
    },
    VectorClusterBackup {
        /// The backed-up cluster's control-plane id; a backup the operator
        /// took on schedule is known by it and its name.
        cluster_id: Uuid,
        name: String,
        /// Why the operator took it (its `quartermaster.dev/origin`
        /// label: `scheduled` or `pre-upgrade`); none for one taken by hand.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<String>,
        status: BackupStatus,
    },
    VectorClusterRestore {
        status: BackupStatus,
    },
    /// The resource is gone from the data plane (after a deletion asked).
    Gone {
        of: Kind,
    },
}

/// Where a data plane is with a resource: the control-plane generation it
/// applied, and whether the operator has acted on it (its
/// `observedGeneration` reached the resource's `metadata.generation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub applied_generation: i64,
    pub acted: bool,
    /// The wake last applied, for an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub woken_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_report_reads_as_the_wire_shows_it() {
        let id = Uuid::nil();
        let report: Report = serde_json::from_value(json!({
            "id": id, "organization_id": id, "kind": "Gone", "of": "VectorCluster"
        }))
        .unwrap();
        assert_eq!(
            report.observed,
            Observed::Gone {
                of: Kind::VectorCluster
            }
        );
        let applied: Report = serde_json::from_value(json!({
            "id": id, "organization_id": id, "kind": "InferenceEndpoint",
            "applied_generation": 3, "acted": true, "status": null
        }))
        .unwrap();
        assert_eq!(
            applied.observed,
            Observed::InferenceEndpoint {
                applied: Applied {
                    applied_generation: 3,
                    acted: true,
                    woken_at: None
                },
                status: None
            }
        );
    }
}
