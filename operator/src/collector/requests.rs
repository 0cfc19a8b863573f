//! Requests a cluster served in an interval, from its engine's own counter:
//! each node's total since it started, read every interval, turned into the
//! increase since the last reading. Pure; the collector reads and keeps.
//!
//! A reading that says nothing sure of the interval gives no figure, and
//! so no `requests` event: the control plane counts an hour without one as
//! possibly busy, never as idle. That is the case when a node could not be
//! read, when it was not read the interval before (the collector just
//! started, the node just appeared), and when its counter went back (the
//! node restarted) to zero, hiding what it served before the restart.

use std::collections::BTreeMap;

/// The increase of one node's counter from `previous` to `current`.
pub fn increase(previous: Option<u64>, current: u64) -> Option<u64> {
    match previous? {
        before if current >= before => Some(current - before),
        // Restarted: at least what it served since, when that is anything.
        _ => (current > 0).then_some(current),
    }
}

/// Each node's counter as last read, by the node's address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    last: BTreeMap<String, u64>,
}

impl Counters {
    /// Records this interval's readings of one cluster's nodes (`None`: that
    /// node could not be read) and returns the cluster's increase: the sum
    /// of its nodes' when every node gives one, else `None`.
    pub fn record(&mut self, nodes: &[(String, Option<u64>)]) -> Option<u64> {
        let mut total = Some(0u64);
        for (node, reading) in nodes {
            let previous = self.last.remove(node);
            let grown = reading.and_then(|current| increase(previous, current));
            total = total.zip(grown).map(|(t, g)| t.saturating_add(g));
            if let Some(current) = reading {
                self.last.insert(node.clone(), *current);
            }
        }
        total.filter(|_| !nodes.is_empty())
    }

    /// Forgets nodes not among `kept` (their cluster is gone or smaller).
    pub fn retain(&mut self, kept: &[String]) {
        self.last.retain(|node, _| kept.contains(node));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_increase_needs_a_reading_before() {
        assert_eq!(increase(None, 40), None);
        assert_eq!(increase(Some(40), 40), Some(0));
        assert_eq!(increase(Some(40), 52), Some(12));
        // A restart: what was served since, when anything was.
        assert_eq!(increase(Some(40), 3), Some(3));
        assert_eq!(increase(Some(40), 0), None);
    }

    fn nodes(readings: &[Option<u64>]) -> Vec<(String, Option<u64>)> {
        readings
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    format!("http://search-{i}.search-peers.org-acme.svc:6333"),
                    *r,
                )
            })
            .collect()
    }

    #[test]
    fn a_cluster_gets_its_nodes_summed_increase_only_when_each_was_read_twice() {
        let mut counters = Counters::default();
        assert_eq!(
            counters.record(&nodes(&[Some(10), Some(5)])),
            None,
            "first reading"
        );
        assert_eq!(counters.record(&nodes(&[Some(10), Some(5)])), Some(0));
        assert_eq!(counters.record(&nodes(&[Some(14), Some(8)])), Some(7));
        // One node unreadable: nothing sure of the cluster.
        assert_eq!(counters.record(&nodes(&[Some(20), None])), None);
        // Readable again, that node has no reading before.
        assert_eq!(counters.record(&nodes(&[Some(20), Some(9)])), None);
        assert_eq!(counters.record(&nodes(&[Some(21), Some(9)])), Some(1));
        assert_eq!(counters.record(&[]), None, "no node, no reading");
    }

    #[test]
    fn nodes_no_longer_running_are_forgotten() {
        let mut counters = Counters::default();
        counters.record(&nodes(&[Some(1), Some(2)]));
        let first = nodes(&[None])[0].0.clone();
        counters.retain(std::slice::from_ref(&first));
        assert_eq!(counters.last.keys().collect::<Vec<_>>(), [&first]);
    }
}
