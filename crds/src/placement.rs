//! What a resize would do to a cluster's data, told before anyone asks for
//! it: the operator's own shard plan (`reconcile::shards`) played out over
//! the placement the cluster last reported. The control plane answers its
//! downscale-risk question with this, so the preview and the moves the
//! operator then makes are one decision.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::shards::{self, Layout, Operation, Replica, TransferKind};
use crate::vector_cluster::{CollectionPlacement, Placement, ShardPlacement};

/// The placement a layout shows, by node ordinal. A replica on a member
/// whose address names none of the cluster's pods is left out: no resize
/// touches it.
pub fn of(layout: &Layout) -> Placement {
    let mut collections: BTreeMap<&str, BTreeMap<u32, Vec<u32>>> = BTreeMap::new();
    for r in &layout.replicas {
        let shards = collections.entry(&r.collection).or_default();
        let nodes = shards.entry(r.shard).or_default();
        if let Some(Some(ordinal)) = layout.peers.get(&r.peer) {
            nodes.push(*ordinal);
        }
    }
    for name in layout.sizes.keys() {
        collections.entry(name).or_default();
    }
    Placement {
        collections: collections
            .into_iter()
            .map(|(name, shards)| {
                let size = layout.sizes.get(name).copied().unwrap_or_default();
                CollectionPlacement {
                    name: name.to_owned(),
                    points: size.points,
                    point_bytes: size.point_bytes,
                    shards: shards
                        .into_iter()
                        .map(|(id, mut nodes)| {
                            nodes.sort_unstable();
                            ShardPlacement { id, nodes }
                        })
                        .collect(),
                }
            })
            .collect(),
    }
}

/// The layout a placement stands for: each node a peer whose id is its
/// ordinal, every replica active. `nodes` members, whether or not they
/// hold a replica.
fn layout(placement: &Placement, nodes: u32) -> Layout {
    let mut peers: BTreeMap<u64, Option<u32>> =
        (0..nodes).map(|o| (u64::from(o), Some(o))).collect();
    let mut replicas = Vec::new();
    let mut sizes = BTreeMap::new();
    for c in &placement.collections {
        for shard in &c.shards {
            for node in &shard.nodes {
                peers.insert(u64::from(*node), Some(*node));
                replicas.push(Replica {
                    collection: c.name.clone(),
                    shard: shard.id,
                    peer: u64::from(*node),
                    active: true,
                });
            }
        }
        let size = shards::Size {
            points: c.points,
            point_bytes: c.point_bytes,
        };
        sizes.insert(c.name.clone(), size);
    }
    Layout {
        peers,
        replicas,
        transfers: 0,
        sizes,
    }
}

/// What moving from the reported placement to `nodes` nodes at
/// `replication_factor` does, operation by operation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// Shards that move or gain a copy, in the order the operator would
    /// start them (one at a time).
    pub transfers: Vec<Transfer>,
    /// Extra replicas dropped where the staying nodes hold enough copies.
    pub dropped: Vec<ShardOnNode>,
    /// Nodes removed from Qdrant's consensus before the StatefulSet shrinks.
    pub removed_nodes: Vec<u32>,
    /// Points the transfers copy (each shard's share of its collection).
    pub points: u64,
    /// Vector bytes the transfers copy; payloads and indexes come on top.
    pub bytes: u64,
    /// Shards whose every replica is on a leaving node: their only copy
    /// must move before the node goes. Shrinking the StatefulSet without
    /// Qdrant's part would lose each of them.
    pub last_replica_leaving: Vec<ShardRef>,
    /// Why the operator could not finish, were it asked: such a resize would
    /// lose a shard's last replica, and the operator holds it (`Degraded`).
    pub blocked: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transfer {
    pub collection: String,
    pub shard: u32,
    /// `move` (the source gives up its replica) or `copy`.
    pub kind: &'static str,
    pub from_node: u32,
    pub to_node: u32,
    pub points: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardOnNode {
    pub collection: String,
    pub shard: u32,
    pub node: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShardRef {
    pub collection: String,
    pub shard: u32,
}

/// The risk of resizing a cluster of `current_nodes` to `nodes`.
pub fn risk(
    placement: &Placement,
    current_nodes: u32,
    nodes: u32,
    replication_factor: u32,
) -> Risk {
    let start = layout(placement, current_nodes);
    let playout = shards::playout(&start, nodes, replication_factor);
    let share = |collection: &str, shard: u32| {
        let Some(c) = placement.collections.iter().find(|c| c.name == collection) else {
            return (0, 0);
        };
        let points = share_of(c, shard);
        (points, points.saturating_mul(c.point_bytes))
    };
    let node = |peer: &u64| u32::try_from(*peer).unwrap_or(u32::MAX);
    let mut risk = Risk {
        blocked: playout.blocked,
        last_replica_leaving: placement
            .collections
            .iter()
            .flat_map(|c| {
                c.shards
                    .iter()
                    .filter(|s| !s.nodes.is_empty() && s.nodes.iter().all(|n| *n >= nodes))
                    .map(|s| ShardRef {
                        collection: c.name.clone(),
                        shard: s.id,
                    })
            })
            .collect(),
        ..Risk::default()
    };
    for operation in &playout.operations {
        match operation {
            Operation::Transfer(t) => {
                let (points, bytes) = share(&t.collection, t.shard);
                risk.points = risk.points.saturating_add(points);
                risk.bytes = risk.bytes.saturating_add(bytes);
                risk.transfers.push(Transfer {
                    collection: t.collection.clone(),
                    shard: t.shard,
                    kind: match t.kind {
                        TransferKind::Move => "move",
                        TransferKind::Replicate => "copy",
                    },
                    from_node: node(&t.from),
                    to_node: node(&t.to),
                    points,
                    bytes,
                });
            }
            Operation::Drop {
                collection,
                shard,
                peer,
            } => risk.dropped.push(ShardOnNode {
                collection: collection.clone(),
                shard: *shard,
                node: node(peer),
            }),
            Operation::RemovePeer { peer } => risk.removed_nodes.push(node(peer)),
        }
    }
    risk
}

/// A shard's share of its collection's points: Qdrant's hash ring spreads
/// points evenly over a collection's shards, so each holds about
/// `points / shards` (the remainder one each to the lowest shard ids).
fn share_of(c: &CollectionPlacement, shard: u32) -> u64 {
    let count = c.shards.len() as u64;
    if count == 0 {
        return 0;
    }
    let rank = c.shards.iter().filter(|s| s.id < shard).count() as u64;
    c.points / count + u64::from(rank < c.points % count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `collections` of `shards` shards, one replica each, round robin over
    /// `nodes` nodes, 1,000 points of 512-byte vectors each.
    fn placed(nodes: u32, collections: &[&str], shards: u32) -> Placement {
        Placement {
            collections: collections
                .iter()
                .map(|name| CollectionPlacement {
                    name: (*name).to_owned(),
                    points: 1000,
                    point_bytes: 512,
                    shards: (0..shards)
                        .map(|id| ShardPlacement {
                            id,
                            nodes: vec![id % nodes],
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_scale_down_moves_the_leaving_nodes_shards_and_says_how_much() {
        let risk = risk(&placed(3, &["a", "b"], 3), 3, 2, 1);
        // Shard 2 of each collection lives on node 2 alone.
        assert_eq!(
            risk.last_replica_leaving,
            [
                ShardRef {
                    collection: "a".into(),
                    shard: 2
                },
                ShardRef {
                    collection: "b".into(),
                    shard: 2
                }
            ]
        );
        assert_eq!(risk.transfers.len(), 2);
        assert!(
            risk.transfers
                .iter()
                .all(|t| t.kind == "move" && t.from_node == 2 && t.to_node < 2)
        );
        // 1,000 points over 3 shards: shard 2 holds 333.
        assert_eq!(risk.points, 2 * 333);
        assert_eq!(risk.bytes, 2 * 333 * 512);
        assert_eq!(risk.removed_nodes, [2]);
        assert_eq!(risk.blocked, None);
    }

    #[test]
    fn the_preview_is_the_plan_the_operator_would_play() {
        let p = placed(3, &["a", "b", "c"], 4);
        let preview = risk(&p, 3, 2, 1);
        let played = shards::playout(&layout(&p, 3), 2, 1);
        assert_eq!(
            preview.transfers.len() + preview.dropped.len() + preview.removed_nodes.len(),
            played.operations.len()
        );
    }

    #[test]
    fn growing_or_keeping_the_size_loses_nothing() {
        let same = risk(&placed(2, &["a"], 2), 2, 2, 1);
        assert_eq!(same, Risk::default());
        let grown = risk(&placed(2, &["a"], 4), 2, 4, 1);
        assert!(grown.last_replica_leaving.is_empty());
        assert!(grown.removed_nodes.is_empty());
        assert!(grown.transfers.iter().all(|t| t.to_node >= 2));
    }

    #[test]
    fn shares_spread_the_remainder_over_the_lowest_shards() {
        let c = &placed(1, &["a"], 3).collections[0];
        let shares: Vec<u64> = (0..3).map(|s| share_of(c, s)).collect();
        assert_eq!(shares, [334, 333, 333]);
        assert_eq!(shares.iter().sum::<u64>(), 1000);
    }

    #[test]
    fn a_layout_is_reported_by_ordinal_with_its_sizes() {
        let mut l = layout(&placed(2, &["a"], 2), 2);
        // A member outside the cluster's pods: its replica is not shown.
        l.peers.insert(900, None);
        l.replicas.push(Replica {
            collection: "a".into(),
            shard: 0,
            peer: 900,
            active: true,
        });
        let p = of(&l);
        assert_eq!(p, placed(2, &["a"], 2));
    }
}
