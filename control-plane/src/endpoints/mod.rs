//! GPU inference endpoints: a model on GPUs, scaled by load and, when its
//! spec allows, to zero when idle. Like clusters, a change is stored with a
//! new generation and carried into the data plane by the provisioner.

pub mod data_plane;
mod request;
mod store;

pub use crds::inference_endpoint::{EndpointPhase, EngineKind};
pub use request::{CreateEndpoint, UpdateEndpoint};
pub use store::{Endpoint, create, delete, get, list, update, wake};
