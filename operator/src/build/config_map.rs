//! The Qdrant configuration and the start script that joins a node to its
//! peers.

use k8s_openapi::api::core::v1::ConfigMap;

use super::{GRPC_PORT, HTTP_PORT, P2P_PORT, ValidatedCluster, string_map};

pub const CONFIG_FILE: &str = "production.yaml";
pub const START_SCRIPT: &str = "start.sh";

fn config(cluster: &ValidatedCluster) -> String {
    format!(
        "log_level: INFO
storage:
  storage_path: /qdrant/storage
  snapshots_path: /qdrant/snapshots
  collection:
    replication_factor: {replication_factor}
    write_consistency_factor: 1
service:
  http_port: {HTTP_PORT}
  grpc_port: {GRPC_PORT}
  enable_tls: false
cluster:
  enabled: true
  p2p:
    port: {P2P_PORT}
  consensus:
    tick_period_ms: 100
telemetry_disabled: true
",
        replication_factor = cluster.spec.replication_factor,
    )
}

/// Node 0 founds the cluster; every other node bootstraps from node 0. A
/// node's own URI is its stable StatefulSet DNS name.
///
/// Distributed mode from the first node, as Qdrant's own Helm chart runs it:
/// nothing in the configuration depends on the number of nodes, so a
/// scale-up adds peers without restarting the ones that serve.
fn start_script(cluster: &ValidatedCluster) -> String {
    format!(
        "#!/bin/sh
set -e
ordinal=\"${{HOSTNAME##*-}}\"
self=\"http://${{HOSTNAME}}.{domain}:{P2P_PORT}\"
if [ \"$ordinal\" = 0 ]; then
  exec /qdrant/entrypoint.sh --uri \"$self\"
fi
exec /qdrant/entrypoint.sh --bootstrap \"http://{first}.{domain}:{P2P_PORT}\" --uri \"$self\"
",
        domain = cluster.peer_domain(),
        first = cluster.names.pod(0),
    )
}

pub fn build(cluster: &ValidatedCluster) -> ConfigMap {
    ConfigMap {
        metadata: cluster.meta(&cluster.names.config_map),
        data: Some(string_map([
            (CONFIG_FILE, config(cluster)),
            (START_SCRIPT, start_script(cluster)),
        ])),
        ..ConfigMap::default()
    }
}

/// A digest of the configuration, put on the pod template so that a change
/// of configuration rolls the nodes like any other change.
pub fn digest(config_map: &ConfigMap) -> String {
    let mut bytes = Vec::new();
    for (key, value) in config_map.data.iter().flatten() {
        for part in [key, value] {
            bytes.extend_from_slice(part.as_bytes());
            bytes.push(0);
        }
    }
    super::digest(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    #[test]
    fn one_node_runs_distributed_so_that_growing_restarts_none() {
        let one = build(&validated(1, 1));
        assert!(one.data.as_ref().unwrap()[CONFIG_FILE].contains("enabled: true"));
        assert_eq!(
            digest(&one),
            digest(&build(&validated(3, 1))),
            "the same configuration whatever the number of nodes"
        );
    }

    #[test]
    fn other_nodes_bootstrap_from_node_zero() {
        let cm = build(&validated(3, 2));
        let data = cm.data.as_ref().unwrap();
        assert!(data[CONFIG_FILE].contains("enabled: true"));
        assert!(data[CONFIG_FILE].contains("replication_factor: 2"));
        assert!(data[START_SCRIPT].contains(
            "--bootstrap \"http://search-0.search-peers.org-acme.svc.cluster.local:6335\""
        ));
        assert_snapshot("configmap-3-nodes", &cm);
    }

    #[test]
    fn the_digest_follows_the_content() {
        let one = digest(&build(&validated(1, 1)));
        assert_eq!(one, digest(&build(&validated(1, 1))));
        assert_ne!(one, digest(&build(&validated(3, 3))));
        assert_eq!(one.len(), 16);
    }
}
