//! The page a shrink goes through before it is made: what it would move,
//! from the downscale risk, or why it would be refused.

use control_plane::clusters;
use maud::{Markup, html};
use uuid::Uuid;

use super::clusters::ClusterChange;

/// What shrinking `c` as `form` asks would do to its data, and the button
/// that makes the change; `None`: the data plane has not said yet.
pub(super) fn confirm_shrink(
    org_id: Uuid,
    c: &clusters::Cluster,
    form: &ClusterChange,
    csrf: &str,
    risk: Option<&clusters::ResizeRisk>,
) -> Markup {
    let nodes = |n: i64| format!("{n} node{}", if n == 1 { "" } else { "s" });
    html! {
        h1 { "Shrink " (c.name) " from " (nodes(i64::from(c.spec.nodes))) " to " (nodes(form.nodes)) "?" }
        @match risk {
            None => p { "Where this cluster's shards are has not been reported yet. The operator moves every shard off the leaving nodes before they stop, whatever this page can show." },
            Some(r) if !r.refused.is_empty() => {
                p role="alert" { "This resize would be refused:" }
                ul { @for why in &r.refused { li { (why) } } }
            }
            Some(r) => {
                p { (r.risk.transfers.len()) " shard transfer" @if r.risk.transfers.len() != 1 { "s" }
                    ", one at a time: " (r.risk.points) " points, " (readable_bytes(r.risk.bytes)) " of vectors"
                    " (payloads and indexes come on top). Then "
                    @if r.risk.removed_nodes.len() == 1 { "node " } @else { "nodes " }
                    (r.risk.removed_nodes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
                    @if r.risk.removed_nodes.len() == 1 { " leaves" } @else { " leave" }
                    " Qdrant's consensus, and only then stop" @if r.risk.removed_nodes.len() == 1 { "s" } "." }
                @if !r.risk.last_replica_leaving.is_empty() {
                    p data-testid="last-replica" { (r.risk.last_replica_leaving.len())
                        " shard" @if r.risk.last_replica_leaving.len() != 1 { "s have their" } @else { " has its" }
                        " only copy on a leaving node; it moves before the node goes." }
                }
                @if let Some(blocked) = &r.risk.blocked {
                    p role="alert" { "The operator could not finish: " (blocked) }
                }
                @if !r.risk.transfers.is_empty() {
                    table {
                        thead { tr { th { "Collection" } th { "Shard" } th { "Moves" } th class="num" { "Points" } th class="num" { "Vectors" } } }
                        tbody {
                            @for t in &r.risk.transfers {
                                tr { td { (t.collection) } td { (t.shard) }
                                     td { (if t.kind == "move" { "moves" } else { "copied" }) " from node " (t.from_node) " to node " (t.to_node) }
                                     td class="num" { (t.points) } td class="num" { (readable_bytes(t.bytes)) } }
                            }
                        }
                    }
                }
            }
        }
        @if risk.is_none_or(|r| r.refused.is_empty()) {
            form method="post" action={ "/orgs/" (org_id) "/clusters/" (c.id) "/update" } {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="version" value=(form.version);
                input type="hidden" name="nodes" value=(form.nodes);
                input type="hidden" name="storage_gib" value=(form.storage_gib);
                input type="hidden" name="confirmed" value="yes";
                button type="submit" { "Shrink to " (nodes(form.nodes)) }
            }
        }
        p { a href={ "/orgs/" (org_id) "/clusters/" (c.id) } { "Keep " (nodes(i64::from(c.spec.nodes))) } }
    }
}

/// Bytes in binary units, to one decimal.
fn readable_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut scaled = bytes;
    while scaled >= 1024 && unit + 1 < UNITS.len() {
        scaled /= 1024;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes} B");
    }
    // Tenths from the integer value, without floats or overflow.
    let divisor = 1u64 << (10 * unit);
    let tenth = (bytes % divisor) * 10 / divisor;
    format!("{}.{tenth} {}", bytes / divisor, UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::readable_bytes;

    #[test]
    fn bytes_read_in_binary_units_to_a_tenth() {
        assert_eq!(readable_bytes(0), "0 B");
        assert_eq!(readable_bytes(1023), "1023 B");
        assert_eq!(readable_bytes(1536), "1.5 KiB");
        assert_eq!(readable_bytes(3_072_000_000), "2.8 GiB");
        assert_eq!(readable_bytes(u64::MAX), "16777215.9 TiB");
    }
}
