//! What a resize would do to a cluster's data, asked before the resize: the
//! operator's own shard plan played over the placement its data plane last
//! reported (`crds::placement`), and the rules the new size would break.

use crds::placement::{self, Risk};
use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{NODES, store};
use crate::access::OrgAccess;
use crate::validation::ValidationErrors;
use crate::{Conflict, Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResizeRisk {
    pub cluster_id: Uuid,
    /// The nodes the cluster is asked to have now.
    pub current_nodes: u32,
    /// The nodes asked about.
    pub nodes: u32,
    pub replication_factor: u32,
    /// Why such a resize would be refused; empty: it would be accepted.
    pub refused: Vec<String>,
    #[serde(flatten)]
    pub risk: Risk,
}

/// The risk of resizing cluster `id` to `nodes` nodes. A cluster of more
/// than one node whose placement its data plane has not reported yet is a
/// conflict: nothing can be told of its shards.
pub async fn risk(
    conn: &mut PgConnection,
    access: &OrgAccess,
    id: Uuid,
    nodes: i64,
) -> Result<ResizeRisk> {
    let mut errors = ValidationErrors::default();
    let nodes = errors.in_range("nodes", nodes, NODES);
    let nodes = errors.finish(nodes)?;
    let cluster = store::get(conn, access, id).await?;
    let current = &cluster.spec;
    let mut next = current.clone();
    next.nodes = nodes;
    let refused = current
        .change_violations(&next)
        .into_iter()
        .map(|v| v.message)
        .collect();
    let placement = match &cluster.placement {
        Some(placement) => placement.0.clone(),
        // One node holds every shard; growing it moves none of them yet.
        None if current.nodes <= 1 || nodes >= current.nodes => Default::default(),
        None => return Err(Error::Conflict(Conflict::PlacementUnknown)),
    };
    Ok(ResizeRisk {
        cluster_id: id,
        current_nodes: current.nodes,
        nodes,
        replication_factor: current.replication_factor,
        refused,
        risk: placement::risk(&placement, current.nodes, nodes, current.replication_factor),
    })
}
