//! The engines of a Kubernetes data plane: each endpoint's ready pods, from
//! the EndpointSlices of its Service, with the engine key of its Secret.
//!
//! The operator labels an endpoint's Service with
//! `quartermaster.dev/endpoint: <name>`, and Kubernetes copies a Service's
//! labels onto its EndpointSlices (`setEndpointSliceLabels` in
//! `staging/src/k8s.io/endpointslice/utils.go`); the control plane's id is
//! the `quartermaster.dev/id` label of the InferenceEndpoint itself. An
//! address whose `conditions.ready` is unset counts as ready, as the
//! EndpointSlice API asks of consumers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crds::inference_endpoint::InferenceEndpoint;
use crds::names::{ENDPOINT_API_KEY, LABEL_ENDPOINT, LABEL_TENANT_ID, MANAGED_BY, endpoint_secret};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use uuid::Uuid;

use crate::pods::{Pod, Pods};

/// The port name the operator gives an endpoint's engine.
const PORT_NAME: &str = "http";

/// One engine replica as the slices show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub base_url: String,
    pub engine_key: Option<String>,
}

/// Each endpoint's ready replicas, by the control plane's id, from what the
/// data plane holds.
pub fn replicas(
    endpoints: &[Arc<InferenceEndpoint>],
    slices: &[Arc<EndpointSlice>],
    secrets: &[Arc<Secret>],
) -> HashMap<Uuid, Vec<Replica>> {
    let keys: BTreeMap<(String, String), String> = secrets
        .iter()
        .filter_map(|s| {
            let key = s.data.as_ref()?.get(ENDPOINT_API_KEY)?;
            let key = String::from_utf8(key.0.clone()).ok()?;
            Some(((s.namespace()?, s.name_any()), key))
        })
        .collect();
    // Each endpoint's slices, found once rather than by a scan per endpoint.
    let mut slices_of: HashMap<(String, &str), Vec<&EndpointSlice>> = HashMap::new();
    for slice in slices {
        if let (Some(namespace), Some(name)) =
            (slice.namespace(), slice.labels().get(LABEL_ENDPOINT))
        {
            slices_of
                .entry((namespace, name.as_str()))
                .or_default()
                .push(slice);
        }
    }
    let mut by_id = HashMap::new();
    for endpoint in endpoints {
        let (Some(namespace), Some(id)) = (
            endpoint.namespace(),
            endpoint
                .labels()
                .get(LABEL_TENANT_ID)
                .and_then(|id| id.parse::<Uuid>().ok()),
        ) else {
            continue;
        };
        let name = endpoint.name_any();
        let engine_key = keys
            .get(&(namespace.clone(), endpoint_secret(&name)))
            .cloned();
        let mut ready = Vec::new();
        let own = slices_of.get(&(namespace, name.as_str()));
        for slice in own.into_iter().flatten() {
            let Some(port) = slice
                .ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(PORT_NAME))
                .and_then(|p| p.port)
            else {
                continue;
            };
            for address in slice
                .endpoints
                .iter()
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
                .flat_map(|e| e.addresses.iter())
            {
                let host = if address.contains(':') {
                    format!("[{address}]")
                } else {
                    address.clone()
                };
                ready.push(Replica {
                    base_url: format!("http://{host}:{port}"),
                    engine_key: engine_key.clone(),
                });
            }
        }
        ready.sort_by(|a, b| a.base_url.cmp(&b.base_url));
        ready.dedup();
        by_id.insert(id, ready);
    }
    by_id
}

fn store<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (Store<K>, futures::stream::BoxStream<'static, ()>)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let changes = watcher(api, config)
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .map(|_| ())
        .boxed();
    (reader, changes)
}

/// Keeps `pods` as the data plane's EndpointSlices say, until the watches end.
pub async fn watch(client: Client, pods: Arc<Pods>) {
    let managed =
        watcher::Config::default().labels(&format!("app.kubernetes.io/managed-by={MANAGED_BY}"));
    let (endpoints, a) = store(
        Api::<InferenceEndpoint>::all(client.clone()),
        watcher::Config::default(),
    );
    let (slices, b) = store(
        Api::<EndpointSlice>::all(client.clone()),
        watcher::Config::default().labels(LABEL_ENDPOINT),
    );
    let (secrets, c) = store(Api::<Secret>::all(client), managed);
    let mut changes = futures::stream::select(a, futures::stream::select(b, c));
    let mut known: Vec<Uuid> = Vec::new();
    while changes.next().await.is_some() {
        let now = replicas(&endpoints.state(), &slices.state(), &secrets.state());
        for gone in known.iter().filter(|id| !now.contains_key(id)) {
            pods.set(*gone, Vec::new());
        }
        known = now.keys().copied().collect();
        for (id, replicas) in now {
            pods.set(
                id,
                replicas
                    .into_iter()
                    .map(|r| Pod::new(r.base_url, r.engine_key))
                    .collect(),
            );
        }
    }
    tracing::error!("the EndpointSlice watches ended; the gateway keeps its last pods");
}

#[cfg(test)]
mod tests {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
    use kube::api::ObjectMeta;

    use super::*;

    const ID: Uuid = Uuid::from_u128(42);

    fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("qm-org".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| ((*k).into(), (*v).into()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        }
    }

    fn endpoint() -> Arc<InferenceEndpoint> {
        let mut e = InferenceEndpoint::new("chat", crds::fixtures::endpoint_spec("nvidia-l4", 1));
        e.metadata = meta("chat", &[(LABEL_TENANT_ID, &ID.to_string())]);
        Arc::new(e)
    }

    fn slice(addresses: &[(&str, Option<bool>)], port: &str) -> Arc<EndpointSlice> {
        Arc::new(EndpointSlice {
            metadata: meta(
                "chat-abc12",
                &[
                    (LABEL_ENDPOINT, "chat"),
                    ("kubernetes.io/service-name", "chat"),
                ],
            ),
            address_type: "IPv4".into(),
            endpoints: addresses
                .iter()
                .map(|(a, ready)| Endpoint {
                    addresses: vec![(*a).into()],
                    conditions: Some(EndpointConditions {
                        ready: *ready,
                        ..EndpointConditions::default()
                    }),
                    ..Endpoint::default()
                })
                .collect(),
            ports: Some(vec![EndpointPort {
                name: Some(port.into()),
                port: Some(8000),
                ..EndpointPort::default()
            }]),
        })
    }

    fn secret() -> Arc<Secret> {
        Arc::new(Secret {
            metadata: meta("chat-api-key", &[]),
            data: Some(
                [(
                    ENDPOINT_API_KEY.to_owned(),
                    ByteString(b"engine-secret".to_vec()),
                )]
                .into(),
            ),
            ..Secret::default()
        })
    }

    #[test]
    fn ready_addresses_of_the_named_port_with_the_endpoints_key() {
        let got = replicas(
            &[endpoint()],
            &[slice(
                &[
                    ("10.0.0.2", Some(true)),
                    ("10.0.0.3", Some(false)),
                    ("10.0.0.4", None),
                ],
                PORT_NAME,
            )],
            &[secret()],
        );
        assert_eq!(
            got[&ID],
            [
                Replica {
                    base_url: "http://10.0.0.2:8000".into(),
                    engine_key: Some("engine-secret".into())
                },
                Replica {
                    base_url: "http://10.0.0.4:8000".into(),
                    engine_key: Some("engine-secret".into())
                },
            ]
        );
    }

    #[test]
    fn an_endpoint_at_zero_has_no_replicas_and_one_without_its_id_is_skipped() {
        let got = replicas(&[endpoint()], &[slice(&[], PORT_NAME)], &[]);
        assert_eq!(got[&ID], []);
        let mut unlabelled = (*endpoint()).clone();
        unlabelled.metadata.labels = None;
        assert!(
            replicas(
                &[Arc::new(unlabelled)],
                &[slice(&[("10.0.0.2", None)], PORT_NAME)],
                &[]
            )
            .is_empty()
        );
        let other_port = replicas(
            &[endpoint()],
            &[slice(&[("10.0.0.2", None)], "metrics")],
            &[],
        );
        assert_eq!(other_port[&ID], []);
    }
}
