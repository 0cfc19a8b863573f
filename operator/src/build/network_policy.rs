//! Who may reach the nodes: the cluster's own peers on every port, the
//! operator on the REST port (health checks), and the allowed source ranges
//! on the client ports. Nothing else.

use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{GRPC_PORT, HTTP_PORT, P2P_PORT, ValidatedCluster, string_map};

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn pods(selector: &ValidatedCluster) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector.names.selector()),
        ..LabelSelector::default()
    }
}

pub fn build(cluster: &ValidatedCluster) -> NetworkPolicy {
    let peers = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(pods(cluster)),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![tcp(HTTP_PORT), tcp(GRPC_PORT), tcp(P2P_PORT)]),
    };
    let operator = NetworkPolicyIngressRule {
        from: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector {
                match_labels: Some(string_map([(
                    "kubernetes.io/metadata.name",
                    cluster.operator_namespace.clone(),
                )])),
                ..LabelSelector::default()
            }),
            ..NetworkPolicyPeer::default()
        }]),
        ports: Some(vec![tcp(HTTP_PORT)]),
    };
    let mut ingress = vec![peers, operator];
    if !cluster.spec.allowed_source_cidrs.is_empty() {
        ingress.push(NetworkPolicyIngressRule {
            from: Some(
                cluster
                    .spec
                    .allowed_source_cidrs
                    .iter()
                    .map(|cidr| NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: cidr.clone(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![tcp(HTTP_PORT), tcp(GRPC_PORT)]),
        });
    }
    NetworkPolicy {
        metadata: cluster.meta(&cluster.names.network_policy),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(pods(cluster)),
            policy_types: Some(vec!["Ingress".to_owned()]),
            ingress: Some(ingress),
            ..NetworkPolicySpec::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    #[test]
    fn allowed_ranges_reach_only_the_client_ports() {
        let policy = build(&validated(3, 2));
        let rules = policy.spec.as_ref().unwrap().ingress.clone().unwrap();
        assert_eq!(rules.len(), 3);
        let cidr_rule = &rules[2];
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
    fn without_ranges_only_peers_and_the_operator_get_in() {
        let mut cluster = validated(1, 1);
        cluster.spec.allowed_source_cidrs.clear();
        let policy = build(&cluster);
        let rules = policy.spec.as_ref().unwrap().ingress.clone().unwrap();
        assert_eq!(rules.len(), 2);
        assert_snapshot("networkpolicy-1-node", &policy);
    }
}
