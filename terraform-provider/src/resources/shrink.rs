//! What a plan that shrinks a cluster says: the downscale risk as
//! Terraform warnings.

use crate::dto::DownscaleRisk;

/// Transfers a warning lists one by one; the rest are counted.
const LISTED_TRANSFERS: usize = 20;

/// What a plan says of a shrink: the shard moves it makes, the shards whose
/// only copy is on a leaving node, and why it would be refused.
pub fn shrink_warnings(name: &str, risk: &DownscaleRisk) -> Vec<(String, String)> {
    let mut warnings = Vec::new();
    if !risk.refused.is_empty() {
        warnings.push((
            format!(
                "The API will refuse to shrink {name} to {} nodes",
                risk.nodes
            ),
            risk.refused.join("\n"),
        ));
        return warnings;
    }
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut detail = format!(
        "Before any node stops, {} one at a time ({} points, {} bytes of vectors; payloads and indexes come on top); then node(s) {} leave Qdrant's consensus, and only then does the StatefulSet shrink.",
        plural(risk.transfers.len(), "shard moves", "shards move"),
        risk.points,
        risk.bytes,
        risk.removed_nodes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    for t in risk.transfers.iter().take(LISTED_TRANSFERS) {
        detail.push_str(&format!(
            "\n- {}/{}: {} from node {} to node {}",
            t.collection, t.shard, t.kind, t.from_node, t.to_node
        ));
    }
    if risk.transfers.len() > LISTED_TRANSFERS {
        detail.push_str(&format!(
            "\n- and {} more",
            risk.transfers.len() - LISTED_TRANSFERS
        ));
    }
    if !risk.last_replica_leaving.is_empty() {
        detail.push_str(&format!(
            "\n{} only copy on a leaving node, moved before the node goes.",
            plural(
                risk.last_replica_leaving.len(),
                "shard has its",
                "shards have their"
            )
        ));
    }
    if let Some(blocked) = &risk.blocked {
        detail.push_str(&format!(
            "\nThe operator could not finish and would hold the cluster Degraded: {blocked}"
        ));
    }
    warnings.push((
        format!(
            "Shrinking {name} from {} to {} nodes moves {}",
            risk.current_nodes,
            risk.nodes,
            plural(risk.transfers.len(), "shard", "shards")
        ),
        detail,
    ));
    warnings
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The API's answer for a shrink of 3 nodes to 2 (its documented shape).
    fn risk(refused: &[&str], transfers: usize) -> DownscaleRisk {
        let transfers: Vec<_> = (0..transfers)
            .map(|s| {
                json!({ "collection": "docs", "shard": s, "kind": "move", "from_node": 2,
                             "to_node": 0, "points": 10, "bytes": 40 })
            })
            .collect();
        serde_json::from_value(json!({
            "object": "downscale_risk", "cluster_id": "0190d8a5-6b1e-7c3a-9f00-00000000c1c1",
            "current_nodes": 3, "nodes": 2, "replication_factor": 1, "refused": refused,
            "transfers": transfers, "dropped": [], "removed_nodes": [2],
            "points": 10 * transfers.len(), "bytes": 40 * transfers.len(),
            "last_replica_leaving": [{ "collection": "docs", "shard": 0 }], "blocked": null
        }))
        .unwrap()
    }

    #[test]
    fn a_shrink_is_told_shard_by_shard_and_a_refusal_with_its_reason() {
        let told = shrink_warnings("search", &risk(&[], 1));
        assert_eq!(told.len(), 1);
        assert_eq!(
            told[0].0,
            "Shrinking search from 3 to 2 nodes moves 1 shard"
        );
        assert!(
            told[0]
                .1
                .contains("1 shard moves one at a time (10 points, 40 bytes")
        );
        assert!(told[0].1.contains("\n- docs/0: move from node 2 to node 0"));
        assert!(
            told[0]
                .1
                .contains("1 shard has its only copy on a leaving node")
        );

        let many = shrink_warnings("search", &risk(&[], LISTED_TRANSFERS + 3));
        assert!(many[0].1.ends_with("\n- and 3 more\n1 shard has its only copy on a leaving node, moved before the node goes."), "{}", many[0].1);

        let refused = shrink_warnings(
            "search",
            &risk(&["a replication factor of 3 needs at least 3 nodes"], 0),
        );
        assert_eq!(
            refused,
            [(
                "The API will refuse to shrink search to 2 nodes".to_owned(),
                "a replication factor of 3 needs at least 3 nodes".to_owned()
            )]
        );
    }
}
