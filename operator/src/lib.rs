//! Quartermaster's Kubernetes operator.
//!
//! The custom resources (`crd`), builders of their child objects as pure
//! functions (`build`), and the reconciler that applies them and reports
//! status (`reconcile`). The control plane imports the resource types, and
//! only those, to validate and write what a customer asks for; the operator
//! reconciles the same types, so the two never disagree on what is valid.

pub mod backup;
pub mod build;
pub mod collector;
pub mod crd;
pub mod engine;
pub mod engine_version;
pub mod gpu;
pub mod lease;
pub mod metrics;
pub mod names;
pub mod placement;
pub mod quantity;
pub mod readable;
pub mod reconcile;
pub mod serving;
pub mod telemetry;

pub use crd::vector_cluster::{
    self as vector_cluster, SpecViolation, VectorCluster, VectorClusterSpec,
};
pub use engine_version::{EngineVersion, InvalidEngineVersion};
