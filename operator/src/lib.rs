//! Quartermaster's Kubernetes operator.
//!
//! Today this crate holds the types of the `VectorCluster` custom resource
//! (group `quartermaster.dev`, version `v1alpha1`) and the rules every spec
//! must satisfy. The control plane imports these types, and only these, to
//! validate what a customer asks for before it is stored; the operator will
//! reconcile the same types, so the two can never disagree on what is valid.

pub mod engine_version;
pub mod vector_cluster;

pub use engine_version::{EngineVersion, InvalidEngineVersion};
pub use vector_cluster::{SpecViolation, VectorClusterSpec};
