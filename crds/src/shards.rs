//! Where a cluster's shards should be, as a pure decision over Qdrant's own
//! layout: one operation at a time, so that no step loses a replica.
//!
//! Qdrant's rules (its OpenAPI document and `src/actix/api/cluster_api.rs`):
//! peers are consensus members until removed, whether or not they run; a
//! peer that holds a replica cannot be removed (`DELETE /cluster/peer/{id}`
//! refuses); a shard moves with `move_shard` and gains a copy with
//! `replicate_shard`, each a transfer that must end before the next. So a
//! scale-down first moves every replica off the leaving peers (highest
//! ordinals), then removes them from consensus, and only then may the
//! StatefulSet shrink; a scale-up or a higher replication factor copies
//! and moves replicas onto peers until each holds its share.

use std::collections::{BTreeMap, BTreeSet};

use crate::vector_cluster::Rebalance;

/// One replica of a shard, as Qdrant reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub collection: String,
    pub shard: u32,
    pub peer: u64,
    pub active: bool,
}

/// The cluster's shards as Qdrant sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Consensus members: peer id → the pod ordinal its address names
    /// (`None`: an address that is not one of this cluster's pods).
    pub peers: BTreeMap<u64, Option<u32>>,
    pub replicas: Vec<Replica>,
    /// Shard transfers under way, across collections.
    pub transfers: u32,
    /// Each collection's size, where it was read.
    pub sizes: BTreeMap<String, Size>,
}

/// A collection's points and the bytes of one point's vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Size {
    pub points: u64,
    pub point_bytes: u64,
}

impl Layout {
    /// The layout once `operation` has ended, as Qdrant would leave it, or
    /// why Qdrant would refuse it.
    pub fn done(&mut self, operation: &Operation) -> Result<(), String> {
        let holds = |l: &Layout, c: &str, s: u32, p: u64| {
            l.replicas
                .iter()
                .any(|r| r.collection == c && r.shard == s && r.peer == p)
        };
        match operation {
            Operation::Transfer(t) => {
                if !holds(self, &t.collection, t.shard, t.from)
                    || holds(self, &t.collection, t.shard, t.to)
                {
                    return Err(format!(
                        "{operation}: the shard is not on {} or already on {}",
                        t.from, t.to
                    ));
                }
                self.replicas.push(Replica {
                    collection: t.collection.clone(),
                    shard: t.shard,
                    peer: t.to,
                    active: true,
                });
                if t.kind == TransferKind::Move {
                    self.replicas.retain(|r| {
                        !(r.collection == t.collection && r.shard == t.shard && r.peer == t.from)
                    });
                }
            }
            Operation::Drop {
                collection,
                shard,
                peer,
            } => {
                let copies = self
                    .replicas
                    .iter()
                    .filter(|r| &r.collection == collection && r.shard == *shard)
                    .count();
                if copies < 2 {
                    return Err(format!("{operation}: the last replica"));
                }
                self.replicas.retain(|r| {
                    !(&r.collection == collection && r.shard == *shard && r.peer == *peer)
                });
            }
            Operation::RemovePeer { peer } => {
                if self.replicas.iter().any(|r| r.peer == *peer) {
                    return Err(format!("{operation}: it holds shards"));
                }
                self.peers.remove(peer);
            }
        }
        Ok(())
    }
}

/// One of Qdrant's cluster operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    Transfer(ShardTransfer),
    Drop {
        collection: String,
        shard: u32,
        peer: u64,
    },
    RemovePeer {
        peer: u64,
    },
}

/// A shard copied from one peer to another: Qdrant's `move_shard` and
/// `replicate_shard`, which differ only in what becomes of the source's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardTransfer {
    pub kind: TransferKind,
    pub collection: String,
    pub shard: u32,
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// The source drops its copy once the transfer ends.
    Move,
    /// The source keeps its copy: the shard gains one.
    Replicate,
}

impl Operation {
    fn transfer(kind: TransferKind, collection: &str, shard: u32, from: u64, to: u64) -> Self {
        Operation::Transfer(ShardTransfer {
            kind,
            collection: collection.to_owned(),
            shard,
            from,
            to,
        })
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Operation::Transfer(t) => {
                let doing = match t.kind {
                    TransferKind::Move => "moving",
                    TransferKind::Replicate => "copying",
                };
                write!(
                    f,
                    "{doing} {}/{} from peer {} to peer {}",
                    t.collection, t.shard, t.from, t.to
                )
            }
            Operation::Drop {
                collection,
                shard,
                peer,
            } => write!(
                f,
                "dropping the extra replica of {collection}/{shard} on peer {peer}"
            ),
            Operation::RemovePeer { peer } => write!(f, "removing peer {peer} from the consensus"),
        }
    }
}

/// The reason while shards move.
pub const REBALANCING: &str = "RebalancingShards";

impl Plan {
    /// What the status says while the plan is not settled.
    pub fn message(&self, progress: Option<&Rebalance>) -> Option<String> {
        let doing = match self {
            Plan::Settled => return None,
            Plan::Wait(why) => why.clone(),
            Plan::Act { operation, .. } => operation.to_string(),
        };
        Some(match progress {
            Some(p) => format!("{} of {} shard operations done; {doing}", p.done, p.planned),
            None => doing,
        })
    }

    /// The progress after this plan, from the progress before it: a
    /// rebalance begins with what is left; each action counts what is done
    /// since; while Qdrant is busy the count stands. Work that grew past
    /// what was planned (the spec changed again) begins a new count.
    pub fn progress(&self, previous: Option<&Rebalance>) -> Option<Rebalance> {
        match self {
            Plan::Settled => None,
            Plan::Wait(_) => previous.copied(),
            Plan::Act { left, .. } => {
                let left = u32::try_from(*left).unwrap_or(u32::MAX);
                Some(match previous {
                    Some(p) if left <= p.planned => Rebalance {
                        planned: p.planned,
                        done: p.planned - left,
                    },
                    _ => Rebalance {
                        planned: left,
                        done: 0,
                    },
                })
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Every shard where it should be, no peer to remove.
    Settled,
    /// Qdrant is busy (a transfer, a replica not yet active): ask again.
    Wait(String),
    /// Do this next; `left` operations remain, this one included.
    Act { operation: Operation, left: usize },
}

/// A shard's replicas by peer, and which are active.
type Placement = BTreeMap<(String, u32), BTreeMap<u64, bool>>;

fn placement(layout: &Layout) -> Placement {
    let mut shards: Placement = BTreeMap::new();
    for r in &layout.replicas {
        shards
            .entry((r.collection.clone(), r.shard))
            .or_default()
            .insert(r.peer, r.active);
    }
    shards
}

/// Replicas each peer of `peers` holds.
fn load(shards: &Placement, peers: &BTreeSet<u64>) -> BTreeMap<u64, usize> {
    let mut load: BTreeMap<u64, usize> = peers.iter().map(|p| (*p, 0)).collect();
    for replicas in shards.values() {
        for peer in replicas.keys() {
            if let Some(n) = load.get_mut(peer) {
                *n += 1;
            }
        }
    }
    load
}

/// The least loaded of `peers` that does not hold the shard.
fn target(load: &BTreeMap<u64, usize>, holders: &BTreeMap<u64, bool>) -> Option<u64> {
    load.iter()
        .filter(|(peer, _)| !holders.contains_key(peer))
        .min_by_key(|(peer, n)| (**n, **peer))
        .map(|(peer, _)| *peer)
}

/// The next step towards `nodes` peers (ordinals `0..nodes`) holding every
/// shard `replication_factor` times, spread evenly. Work waits while Qdrant
/// moves a shard or a replica is not active; a cluster with nothing to do
/// is settled whatever its replicas' states (the rollout gate reads those).
pub fn plan(layout: &Layout, nodes: u32, replication_factor: u32) -> Plan {
    let shards = placement(layout);
    let next = match next(layout, &shards, nodes, replication_factor) {
        None => return Plan::Settled,
        Some(Err(why)) => return Plan::Wait(why),
        Some(Ok(operation)) => operation,
    };
    if layout.transfers > 0 {
        return Plan::Wait(format!(
            "Qdrant is moving {} shard{}",
            layout.transfers,
            if layout.transfers == 1 { "" } else { "s" }
        ));
    }
    if let Some(((collection, shard), _)) = shards
        .iter()
        .find(|(_, replicas)| replicas.values().any(|active| !active))
    {
        return Plan::Wait(format!("a replica of {collection}/{shard} is not active"));
    }
    Plan::Act {
        left: left(layout, nodes, replication_factor),
        operation: next,
    }
}

/// How many operations the layout needs yet, each transfer taken as done.
fn left(layout: &Layout, nodes: u32, replication_factor: u32) -> usize {
    playout(layout, nodes, replication_factor).operations.len()
}

/// Every operation the plan would make, in order, were each transfer to end
/// at once and every replica to be active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Playout {
    pub operations: Vec<Operation>,
    /// Why the plan stops short, where it does (no staying peer can take a
    /// shard).
    pub blocked: Option<String>,
}

pub fn playout(layout: &Layout, nodes: u32, replication_factor: u32) -> Playout {
    let mut simulated = layout.clone();
    simulated.transfers = 0;
    for r in &mut simulated.replicas {
        r.active = true;
    }
    let mut operations = Vec::new();
    while operations.len() < 100_000 {
        let shards = placement(&simulated);
        let operation = match next(&simulated, &shards, nodes, replication_factor) {
            None => break,
            Some(Err(why)) => {
                return Playout {
                    operations,
                    blocked: Some(why),
                };
            }
            Some(Ok(operation)) => operation,
        };
        if let Err(refused) = simulated.done(&operation) {
            return Playout {
                operations,
                blocked: Some(refused),
            };
        }
        operations.push(operation);
    }
    Playout {
        operations,
        blocked: None,
    }
}

/// The operation the layout needs next, whatever Qdrant is busy with;
/// `Err`: one is needed and none can be made yet.
fn next(
    layout: &Layout,
    shards: &Placement,
    nodes: u32,
    replication_factor: u32,
) -> Option<Result<Operation, String>> {
    let staying: BTreeSet<u64> = layout
        .peers
        .iter()
        .filter(|(_, ordinal)| ordinal.is_some_and(|o| o < nodes))
        .map(|(peer, _)| *peer)
        .collect();
    // A member whose address names none of the cluster's pods is neither:
    // never moved off, never removed.
    let leaving: Vec<u64> = layout
        .peers
        .iter()
        .filter_map(|(peer, ordinal)| ordinal.filter(|o| *o >= nodes).map(|o| (o, *peer)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .rev()
        .map(|(_, peer)| peer)
        .collect();
    let load = load(shards, &staying);
    // The highest leaving ordinal first: move each of its replicas to a
    // staying peer, or drop it where the staying peers hold enough already;
    // then it leaves the consensus.
    if let Some(peer) = leaving.first() {
        for ((collection, shard), holders) in shards {
            if !holders.contains_key(peer) {
                continue;
            }
            let kept = holders.keys().filter(|p| staying.contains(p)).count();
            return Some(Ok(match target(&load, holders) {
                Some(to) if kept < replication_factor as usize => {
                    Operation::transfer(TransferKind::Move, collection, *shard, *peer, to)
                }
                _ if kept > 0 => Operation::Drop {
                    collection: collection.clone(),
                    shard: *shard,
                    peer: *peer,
                },
                Some(to) => Operation::transfer(TransferKind::Move, collection, *shard, *peer, to),
                None => {
                    return Some(Err(format!(
                        "no staying peer can take {collection}/{shard}"
                    )));
                }
            }));
        }
        return Some(Ok(Operation::RemovePeer { peer: *peer }));
    }
    let factor = (replication_factor as usize).min(staying.len());
    // Too few copies: copy onto the least loaded peer without one.
    for ((collection, shard), holders) in shards {
        if holders.len() < factor
            && let (Some(to), Some(from)) = (target(&load, holders), holders.keys().next())
        {
            return Some(Ok(Operation::transfer(
                TransferKind::Replicate,
                collection,
                *shard,
                *from,
                to,
            )));
        }
    }
    // Too many: drop the copy on the most loaded peer.
    for ((collection, shard), holders) in shards {
        if holders.len() > factor
            && let Some(peer) = holders.keys().max_by_key(|p| (load.get(p).copied(), **p))
        {
            return Some(Ok(Operation::Drop {
                collection: collection.clone(),
                shard: *shard,
                peer: *peer,
            }));
        }
    }
    // Even out: from the most to the least loaded peer, while they differ by
    // more than one replica.
    let most = load
        .iter()
        .max_by_key(|(p, n)| (**n, std::cmp::Reverse(**p)));
    let least = load.iter().min_by_key(|(p, n)| (**n, **p));
    if let (Some((&from, &high)), Some((&to, &low))) = (most, least)
        && high > low + 1
        && let Some(((collection, shard), _)) = shards
            .iter()
            .find(|(_, holders)| holders.contains_key(&from) && !holders.contains_key(&to))
    {
        return Some(Ok(Operation::transfer(
            TransferKind::Move,
            collection,
            *shard,
            from,
            to,
        )));
    }
    None
}

/// The pod ordinal a peer's address names: `http://<statefulset>-<n>.…`.
pub fn ordinal(uri: &str, statefulset: &str) -> Option<u32> {
    let host = uri.split("://").nth(1)?.split(['.', ':', '/']).next()?;
    host.strip_prefix(statefulset)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;
