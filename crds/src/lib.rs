//! What both planes share: the custom resources of group
//! `quartermaster.dev`, version `v1alpha1`, the label and annotation names,
//! the backup schedule, and the pure shard plan the operator follows and the
//! control plane previews (`shards`, `placement`). No client, no I/O.

pub mod backup;
pub mod condition;
pub mod engine_version;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod gateway;
pub mod gpu;
pub mod inference_endpoint;
pub mod maintenance;
pub mod names;
pub mod placement;
pub mod schedule;
pub mod shards;
pub mod sync;
pub mod tenant;
pub mod vector_cluster;

pub use engine_version::{EngineVersion, InvalidEngineVersion};
pub use vector_cluster::{SpecViolation, VectorCluster, VectorClusterSpec};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every Quartermaster resource.
pub const GROUP: &str = "quartermaster.dev";

/// Every CRD of the group, in the order `quartermaster-operator crd` prints
/// them: one list, so the operator chart's copy is checked against all of
/// them.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        vector_cluster::VectorCluster::crd(),
        inference_endpoint::InferenceEndpoint::crd(),
        backup::VectorClusterBackup::crd(),
        backup::VectorClusterRestore::crd(),
    ]
}
