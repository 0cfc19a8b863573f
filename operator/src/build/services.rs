//! Two Services: a headless one that gives each peer a stable DNS name, and
//! the client Service customers connect to.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{GRPC_PORT, HTTP_PORT, P2P_PORT, ValidatedCluster};

fn port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::Int(number)),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// Peers must find each other before they are ready, hence
/// `publishNotReadyAddresses`.
pub fn headless(cluster: &ValidatedCluster) -> Service {
    Service {
        metadata: cluster.meta(&cluster.names.headless_service),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            publish_not_ready_addresses: Some(true),
            selector: Some(cluster.names.selector()),
            ports: Some(vec![
                port("http", HTTP_PORT),
                port("grpc", GRPC_PORT),
                port("p2p", P2P_PORT),
            ]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

pub fn client(cluster: &ValidatedCluster) -> Service {
    Service {
        metadata: cluster.meta(&cluster.names.client_service),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(cluster.names.selector()),
            ports: Some(vec![port("http", HTTP_PORT), port("grpc", GRPC_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::fixtures::*;

    #[test]
    fn services_for_one_node() {
        assert_snapshot("service-headless-1-node", &headless(&validated(1, 1)));
        assert_snapshot("service-client-1-node", &client(&validated(1, 1)));
    }

    #[test]
    fn services_for_three_nodes_with_replication_two() {
        let peers = headless(&validated(3, 2));
        let spec = peers.spec.as_ref().unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.publish_not_ready_addresses, Some(true));
        let ports: Vec<i32> = spec.ports.iter().flatten().map(|p| p.port).collect();
        assert_eq!(ports, [6333, 6334, 6335]);
        let client = client(&validated(3, 2));
        let ports: Vec<i32> = client
            .spec
            .unwrap()
            .ports
            .iter()
            .flatten()
            .map(|p| p.port)
            .collect();
        assert_eq!(
            ports,
            [6333, 6334],
            "the peer port is not exposed to clients"
        );
        assert_snapshot("service-headless-3-nodes", &peers);
    }
}
