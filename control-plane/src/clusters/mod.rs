//! Vector clusters: the desired spec customers ask for, and the status the
//! data plane reports back.
//!
//! A change is stored with a new generation and answered at once; the
//! provisioner carries it into the data plane and mirrors the result.

pub mod maintenance;
mod request;
mod resize;
mod store;

pub use crds::vector_cluster::NODES;
pub use crds::vector_cluster::Phase as ClusterPhase;
pub use request::{ClusterName, CreateCluster, UpdateCluster};
pub use resize::{ResizeRisk, risk as resize_risk};
pub use store::{Cluster, create, delete, get, list, update};
pub(crate) use store::{admit, shape};
