//! The custom resources of group `quartermaster.dev`, version `v1alpha1`.

pub mod backup;
pub mod condition;
pub mod inference_endpoint;
pub mod vector_cluster;

/// The API group of every Quartermaster resource.
pub const GROUP: &str = "quartermaster.dev";
