//! Kubernetes' NetworkPolicy semantics, written from the API reference
//! (kubernetes.io/docs/concepts/services-networking/network-policies and
//! the `networking.k8s.io/v1` reference), to decide which flows a set of
//! rendered policies allows:
//! - a pod is isolated for ingress when some policy in its namespace selects
//!   it and has `Ingress` in `policyTypes` (absent: `Ingress`, plus `Egress`
//!   when egress rules are given); an isolated pod admits only what some
//!   rule of some selecting policy admits, a pod no policy selects admits
//!   everything; egress is the same from the source's side;
//! - a rule with no `from` (or `to`) admits every source; a peer with only
//!   `podSelector` selects pods in the policy's own namespace, with only
//!   `namespaceSelector` every pod of the selected namespaces, with both the
//!   selected pods of the selected namespaces; `ipBlock` is for addresses
//!   outside the cluster (pod addresses are ephemeral), so it never matches
//!   a pod;
//! - a rule with no `ports` admits every port; a port is a number or a
//!   container port's name, with an optional `endPort`; protocol defaults to
//!   TCP;
//! - an empty label selector selects everything; `matchExpressions`
//!   operators are `In`, `NotIn`, `Exists` and `DoesNotExist`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::networking::v1::{NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub type Labels = BTreeMap<String, String>;

/// A rule's peers (`from` or `to`) and its ports.
type Rule<'a> = (
    Option<&'a Vec<NetworkPolicyPeer>>,
    Option<&'a Vec<NetworkPolicyPort>>,
);

#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub namespace: String,
    pub labels: Labels,
    /// Container ports by name, for named policy ports.
    pub ports: BTreeMap<String, i32>,
}

#[derive(Debug, Clone)]
pub enum Source {
    Pod(Pod),
    /// An address outside the cluster.
    External(IpAddr),
}

pub struct Cluster {
    /// Namespace name → its labels (`kubernetes.io/metadata.name` included,
    /// as the apiserver sets it).
    pub namespaces: BTreeMap<String, Labels>,
    pub policies: Vec<NetworkPolicy>,
}

pub fn selects(selector: &LabelSelector, labels: &Labels) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let by_expressions = selector.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        let value = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => panic!("not a selector operator: {other}"),
        }
    });
    by_labels && by_expressions
}

fn types(policy: &NetworkPolicy) -> Vec<String> {
    let spec = policy.spec.as_ref().unwrap();
    spec.policy_types.clone().unwrap_or_else(|| {
        let mut types = vec!["Ingress".to_owned()];
        if spec.egress.is_some() {
            types.push("Egress".to_owned());
        }
        types
    })
}

impl Cluster {
    fn namespace_labels(&self, namespace: &str) -> &Labels {
        self.namespaces
            .get(namespace)
            .unwrap_or_else(|| panic!("no namespace {namespace}"))
    }

    /// The policies of `pod`'s namespace that select it for `direction`.
    fn selecting<'a>(&'a self, pod: &Pod, direction: &str) -> Vec<&'a NetworkPolicy> {
        self.policies
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(pod.namespace.as_str()))
            .filter(|p| types(p).iter().any(|t| t == direction))
            .filter(|p| {
                let selector = p
                    .spec
                    .as_ref()
                    .unwrap()
                    .pod_selector
                    .clone()
                    .unwrap_or_default();
                selects(&selector, &pod.labels)
            })
            .collect()
    }

    /// Whether `peer`, in a policy of `policy_namespace`, matches `other`.
    fn peer_matches(
        &self,
        peer: &NetworkPolicyPeer,
        policy_namespace: &str,
        other: &Source,
    ) -> bool {
        match other {
            Source::External(address) => peer.ip_block.as_ref().is_some_and(|block| {
                in_cidr(address, &block.cidr)
                    && !block.except.iter().flatten().any(|e| in_cidr(address, e))
            }),
            Source::Pod(pod) => {
                if peer.ip_block.is_some() {
                    return false;
                }
                let namespace_ok = match &peer.namespace_selector {
                    Some(selector) => selects(selector, self.namespace_labels(&pod.namespace)),
                    None => pod.namespace == policy_namespace,
                };
                let pod_ok = peer
                    .pod_selector
                    .as_ref()
                    .is_none_or(|selector| selects(selector, &pod.labels));
                namespace_ok && pod_ok
            }
        }
    }

    /// `port` as the rules of `ports` see it on `destination`.
    fn port_matches(ports: Option<&Vec<NetworkPolicyPort>>, destination: &Pod, port: i32) -> bool {
        let Some(ports) = ports.filter(|p| !p.is_empty()) else {
            return true;
        };
        ports.iter().any(|p| {
            if p.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                return false;
            }
            match &p.port {
                None => true,
                Some(IntOrString::Int(start)) => {
                    let end = p.end_port.unwrap_or(*start);
                    (*start..=end).contains(&port)
                }
                Some(IntOrString::String(name)) => destination.ports.get(name) == Some(&port),
            }
        })
    }

    /// Whether the rules of the policies selecting the pod in `direction`
    /// admit `other` on `port` of `destination` (`rules` gives each rule's
    /// peers and ports); a pod no policy selects admits everything.
    fn admitted(
        &self,
        selected: &Pod,
        direction: &str,
        other: &Source,
        destination: &Pod,
        port: i32,
    ) -> bool {
        let policies = self.selecting(selected, direction);
        if policies.is_empty() {
            return true;
        }
        policies.iter().any(|policy| {
            let namespace = policy.metadata.namespace.as_deref().unwrap();
            let spec = policy.spec.as_ref().unwrap();
            let rules: Vec<Rule<'_>> = if direction == "Ingress" {
                spec.ingress
                    .iter()
                    .flatten()
                    .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                    .collect()
            } else {
                spec.egress
                    .iter()
                    .flatten()
                    .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                    .collect()
            };
            rules.into_iter().any(|(peers, ports)| {
                let peers_ok = match peers.filter(|p| !p.is_empty()) {
                    None => true,
                    Some(peers) => peers
                        .iter()
                        .any(|peer| self.peer_matches(peer, namespace, other)),
                };
                peers_ok && Self::port_matches(ports, destination, port)
            })
        })
    }

    /// Whether a TCP connection from `source` to `destination:port` is let
    /// through, both ends' policies considered.
    pub fn allows(&self, source: &Source, destination: &Pod, port: i32) -> bool {
        let egress = match source {
            Source::Pod(pod) => self.admitted(
                pod,
                "Egress",
                &Source::Pod(destination.clone()),
                destination,
                port,
            ),
            Source::External(_) => true,
        };
        egress && self.admitted(destination, "Ingress", source, destination, port)
    }
}

fn in_cidr(address: &IpAddr, cidr: &str) -> bool {
    let (network, prefix) = cidr.split_once('/').unwrap();
    let network: IpAddr = network.parse().unwrap();
    let prefix: u32 = prefix.parse().unwrap();
    match (address, network) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            u32::from(*a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            u128::from(*a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
