//! Quartermaster's Kubernetes operator.
//!
//! The custom resources (`crd`), builders of their child objects as pure
//! functions (`build`), and the reconciler that applies them and reports
//! status (`reconcile`). The control plane imports the resource types, and
//! only those, to validate and write what a customer asks for; the operator
//! reconciles the same types, so the two never disagree on what is valid.

pub mod backup;
pub mod build;
pub mod children;
pub mod collector;
pub mod controllers;
pub mod engine;
#[cfg(feature = "fake-apiserver")]
pub mod fake_apiserver;
pub mod lease;
pub mod metrics;
pub mod own_writes;
pub mod quantity;
pub mod readable;
pub mod reconcile;
pub mod serving;
pub mod sync;

/// The shared types, under the names the operator's modules use.
pub use crds as crd;
pub use crds::{
    EngineVersion, InvalidEngineVersion, SpecViolation, VectorCluster, VectorClusterSpec,
    engine_version, gpu, names, placement, vector_cluster,
};
