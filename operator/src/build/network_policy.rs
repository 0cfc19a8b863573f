//! Who may reach a tenant's pods, written as flows (source, ports) and
//! rendered into one NetworkPolicy per cluster and per endpoint.
//!
//! The tenant's namespace denies all ingress (the provisioner applies
//! `crds::tenant::default_deny`); each policy here then admits exactly the flows its
//! pods serve, and a pod's flows are the union of every policy selecting it
//! (Kubernetes' NetworkPolicy semantics). Sources are named by namespace and
//! pod labels, never by address: `ipBlock` is for clients outside the
//! cluster only, since pod addresses change. Another tenant's namespace is
//! never a source. The README's "Network flows" table is this module.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::endpoint::ValidatedEndpoint;
use super::{GRPC_PORT, HTTP_PORT, P2P_PORT, ValidatedCluster, string_map};
use crate::names::{LABEL_CLUSTER, MANAGED_BY};
use crate::serving;

/// The namespaces of the data plane's own services, admitted to the
/// tenants' pods for what each does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemNamespaces {
    /// The operator and the usage collector: health checks, point counts,
    /// engine metrics.
    pub operator: String,
    /// Prometheus, scraping metrics ports; none: not admitted.
    pub prometheus: Option<String>,
    /// The ingress controller or inference gateway in front of endpoints;
    /// none: endpoints are reached only from inside their namespace.
    pub gateway: Option<String>,
}

/// Where a flow comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Any pod of the tenant's own namespace.
    Namespace,
    /// Pods of the tenant's namespace with these labels.
    Pods(BTreeMap<String, String>, Vec<LabelSelectorRequirement>),
    /// Any pod of this (system) namespace.
    System(String),
    /// Addresses outside the cluster.
    Cidrs(Vec<String>),
}

/// One flow the product needs: `from` may open TCP connections to `ports`.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub from: Source,
    pub ports: Vec<i32>,
}

/// Everything that may reach a cluster's Qdrant nodes.
pub fn cluster_flows(cluster: &ValidatedCluster) -> Vec<Flow> {
    let names = &cluster.names;
    let system = &cluster.system;
    let mut flows = vec![
        // The tenant's own applications.
        Flow {
            from: Source::Namespace,
            ports: vec![HTTP_PORT, GRPC_PORT],
        },
        // Consensus and shard transfers between the cluster's own peers.
        Flow {
            from: Source::Pods(names.selector(), vec![]),
            ports: vec![HTTP_PORT, GRPC_PORT, P2P_PORT],
        },
        // Its backup and restore Jobs take and load snapshots over REST.
        Flow {
            from: Source::Pods(
                string_map([
                    ("app.kubernetes.io/managed-by", MANAGED_BY.to_owned()),
                    (LABEL_CLUSTER, names.cluster.clone()),
                ]),
                vec![LabelSelectorRequirement {
                    key: "app.kubernetes.io/component".to_owned(),
                    operator: "In".to_owned(),
                    values: Some(vec!["backup".to_owned(), "restore".to_owned()]),
                }],
            ),
            ports: vec![HTTP_PORT],
        },
        // Health checks (the rollout gate) and point counts (the collector).
        Flow {
            from: Source::System(system.operator.clone()),
            ports: vec![HTTP_PORT],
        },
    ];
    if let Some(prometheus) = &system.prometheus {
        // Qdrant serves /metrics on its REST port.
        flows.push(Flow {
            from: Source::System(prometheus.clone()),
            ports: vec![HTTP_PORT],
        });
    }
    if !cluster.spec.allowed_source_cidrs.is_empty() {
        flows.push(Flow {
            from: Source::Cidrs(cluster.spec.allowed_source_cidrs.clone()),
            ports: vec![HTTP_PORT, GRPC_PORT],
        });
    }
    flows
}

/// Everything that may reach an endpoint's engine: one port serves both
/// inference and `/metrics`.
pub fn endpoint_flows(endpoint: &ValidatedEndpoint) -> Vec<Flow> {
    let port = vec![serving::engine(endpoint.spec.engine).port()];
    let system = &endpoint.system;
    let mut flows = vec![
        Flow {
            from: Source::Namespace,
            ports: port.clone(),
        },
        // The operator reads the request counter (scale to zero), the
        // collector the same.
        Flow {
            from: Source::System(system.operator.clone()),
            ports: port.clone(),
        },
    ];
    for namespace in [&system.prometheus, &system.gateway].into_iter().flatten() {
        flows.push(Flow {
            from: Source::System(namespace.clone()),
            ports: port.clone(),
        });
    }
    flows
}

fn peer(source: &Source) -> Vec<NetworkPolicyPeer> {
    let labels = |labels: BTreeMap<String, String>| LabelSelector {
        match_labels: Some(labels),
        ..LabelSelector::default()
    };
    match source {
        // A pod selector alone selects in the policy's own namespace.
        Source::Namespace => vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        }],
        Source::Pods(match_labels, expressions) => vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some(match_labels.clone()),
                match_expressions: (!expressions.is_empty()).then(|| expressions.clone()),
            }),
            ..NetworkPolicyPeer::default()
        }],
        Source::System(namespace) => vec![NetworkPolicyPeer {
            namespace_selector: Some(labels(string_map([(
                "kubernetes.io/metadata.name",
                namespace.clone(),
            )]))),
            ..NetworkPolicyPeer::default()
        }],
        Source::Cidrs(cidrs) => cidrs
            .iter()
            .map(|cidr| NetworkPolicyPeer {
                ip_block: Some(IPBlock {
                    cidr: cidr.clone(),
                    except: None,
                }),
                ..NetworkPolicyPeer::default()
            })
            .collect(),
    }
}

/// The policy admitting `flows` to the pods `selector` picks.
pub fn render(
    metadata: ObjectMeta,
    selector: BTreeMap<String, String>,
    flows: &[Flow],
) -> NetworkPolicy {
    let ingress = flows
        .iter()
        .map(|flow| NetworkPolicyIngressRule {
            from: Some(peer(&flow.from)),
            ports: Some(
                flow.ports
                    .iter()
                    .map(|port| NetworkPolicyPort {
                        port: Some(IntOrString::Int(*port)),
                        protocol: Some("TCP".to_owned()),
                        ..NetworkPolicyPort::default()
                    })
                    .collect(),
            ),
        })
        .collect();
    NetworkPolicy {
        metadata,
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(ingress),
            ..NetworkPolicySpec::default()
        }),
    }
}

pub fn build(cluster: &ValidatedCluster) -> NetworkPolicy {
    render(
        cluster.meta(&cluster.names.network_policy),
        cluster.names.selector(),
        &cluster_flows(cluster),
    )
}

pub use crds::tenant::default_deny;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    #[test]
    fn allowed_ranges_reach_only_the_client_ports() {
        let policy = build(&validated(3, 2));
        let rules = policy.spec.as_ref().unwrap().ingress.clone().unwrap();
        let cidr_rule = rules.last().unwrap();
        let block = cidr_rule.from.as_ref().unwrap()[0]
            .ip_block
            .as_ref()
            .unwrap();
        assert_eq!(block.cidr, "203.0.113.0/24");
        let ports: Vec<_> = cidr_rule
            .ports
            .iter()
            .flatten()
            .map(|p| p.port.clone())
            .collect();
        assert_eq!(
            ports,
            [Some(IntOrString::Int(6333)), Some(IntOrString::Int(6334))]
        );
        assert_snapshot("networkpolicy-3-nodes", &policy);
    }

    #[test]
    fn without_ranges_no_address_block_is_admitted() {
        let mut cluster = validated(1, 1);
        cluster.spec.allowed_source_cidrs.clear();
        cluster.system.prometheus = None;
        let flows = cluster_flows(&cluster);
        assert!(!flows.iter().any(|f| matches!(f.from, Source::Cidrs(_))));
        assert_snapshot("networkpolicy-1-node", &build(&cluster));
    }
}
