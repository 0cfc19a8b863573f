//! The custom resources of group `quartermaster.dev`, version `v1alpha1`.

pub mod backup;
pub mod condition;
pub mod inference_endpoint;
pub mod maintenance;
pub mod vector_cluster;

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
