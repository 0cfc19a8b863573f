//! The usage collector: every interval it samples each cluster and endpoint
//! of this data plane and reports CloudEvents to the control plane.
//!
//! Sampling is pure ([`sample`]) and its event ids are deterministic (the
//! resource, the meter and the interval's start), so a report sent twice
//! counts once. Each interval's events are written to a spool file before
//! they are sent ([`spool`]), and a file is removed only once the control
//! plane has acknowledged it: a crash or an outage delays usage, never
//! loses it.
//!
//! Besides what is billed, a cluster reports `requests`: what its engine
//! answered in the interval, from Qdrant's own counters on each node
//! ([`requests`]), and only when they could be read. The control plane's
//! idle lifecycle reads it; nothing prices it.

pub mod requests;
pub mod spool;

use requests::Counters;

use chrono::{DateTime, Duration, DurationRound, SecondsFormat, Utc};
use serde_json::{Value, json};

/// What the collector knows of one running resource at sampling time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub organization_id: String,
    /// The control plane's id of the cluster or endpoint.
    pub resource_id: String,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A vector cluster: ready nodes, and the capacity its volumes report
    /// (kept while suspended, grown only once the volumes have grown).
    Cluster {
        ready_nodes: u32,
        storage_bytes: u64,
        points: Option<u64>,
        /// Requests served in the interval; `None`: not known.
        requests: Option<u64>,
    },
    /// An inference endpoint: ready replicas, each with `gpus` of `gpu_model`.
    Endpoint {
        ready_replicas: u32,
        gpus: u32,
        gpu_model: String,
    },
}

fn event(
    source: &str,
    resource: &Running,
    window: DateTime<Utc>,
    meter: &str,
    dimension: Option<&str>,
    value: u64,
) -> Value {
    let kind = match resource.kind {
        Kind::Cluster { .. } => "clusters",
        Kind::Endpoint { .. } => "endpoints",
    };
    let mut data = json!({ "meter": meter, "value": value });
    if let Some(dimension) = dimension {
        data["dimension"] = json!(dimension);
    }
    json!({
        "specversion": "1.0",
        "id": format!("{}/{meter}/{}/{}", resource.resource_id, dimension.unwrap_or(""), window.timestamp()),
        "source": source,
        "type": "dev.quartermaster.usage",
        "time": window.to_rfc3339_opts(SecondsFormat::Secs, true),
        "subject": format!("organizations/{}/{kind}/{}", resource.organization_id, resource.resource_id),
        "data": data,
    })
}

/// The events for the interval that contains `now`.
pub fn sample(
    source: &str,
    now: DateTime<Utc>,
    interval: Duration,
    running: &[Running],
) -> Vec<Value> {
    let window = now.duration_trunc(interval).unwrap_or(now);
    let seconds = u64::try_from(interval.num_seconds()).unwrap_or(0);
    let mut events = Vec::new();
    for resource in running {
        match &resource.kind {
            Kind::Cluster {
                ready_nodes,
                storage_bytes,
                points,
                requests,
            } => {
                let nodes = u64::from(*ready_nodes);
                events.push(event(
                    source,
                    resource,
                    window,
                    "node_seconds",
                    None,
                    nodes * seconds,
                ));
                events.push(event(
                    source,
                    resource,
                    window,
                    "storage_bytes",
                    None,
                    *storage_bytes,
                ));
                for (meter, value) in [("object_count", points), ("requests", requests)] {
                    if let Some(value) = value {
                        events.push(event(source, resource, window, meter, None, *value));
                    }
                }
            }
            Kind::Endpoint {
                ready_replicas,
                gpus,
                gpu_model,
            } => {
                let gpu_seconds = u64::from(*ready_replicas) * u64::from(*gpus) * seconds;
                if gpu_seconds > 0 {
                    events.push(event(
                        source,
                        resource,
                        window,
                        "gpu_seconds",
                        Some(gpu_model),
                        gpu_seconds,
                    ));
                }
            }
        }
    }
    events
}

/// The capacity each cluster's volumes report (`status.capacity`), by
/// namespace and cluster name: what is billed, not what the spec asks
/// (a volume still growing, or one a StorageClass rounded up, differs).
async fn volume_capacity(
    client: &kube::Client,
) -> Result<std::collections::BTreeMap<(String, String), u64>, kube::Error> {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    use kube::api::{Api, ListParams};

    let claims = Api::<PersistentVolumeClaim>::all(client.clone())
        .list(&ListParams::default().labels(crate::names::LABEL_CLUSTER))
        .await?;
    let mut capacity = std::collections::BTreeMap::new();
    for claim in claims.items {
        let Some(cluster) = claim
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(crate::names::LABEL_CLUSTER))
        else {
            continue;
        };
        let bytes = claim
            .status
            .as_ref()
            .and_then(|s| s.capacity.as_ref())
            .and_then(|c| c.get("storage"))
            .and_then(|q| crate::quantity::bytes(&q.0))
            .unwrap_or(0);
        let key = (
            claim.metadata.namespace.clone().unwrap_or_default(),
            cluster.clone(),
        );
        *capacity.entry(key).or_insert(0) += bytes;
    }
    Ok(capacity)
}

/// The resources running in this data plane, as the collector samples them:
/// every `VectorCluster` and `InferenceEndpoint` the control plane placed
/// (labelled with its organization and id). `counters` keeps each node's
/// request counter from one interval to the next.
pub async fn running(
    client: &kube::Client,
    qdrant: &crate::engine::QdrantHttp,
    counters: &mut Counters,
) -> Result<Vec<Running>, kube::Error> {
    use crate::crd::inference_endpoint::InferenceEndpoint;
    use crate::crd::vector_cluster::VectorCluster;
    use kube::ResourceExt;
    use kube::api::{Api, ListParams};

    let placed =
        ListParams::default().labels("quartermaster.dev/organization,quartermaster.dev/id");
    let labels = |meta: &kube::api::ObjectMeta| {
        let labels = meta.labels.as_ref()?;
        Some((
            labels.get("quartermaster.dev/organization")?.clone(),
            labels.get("quartermaster.dev/id")?.clone(),
        ))
    };
    let capacity = volume_capacity(client).await?;
    let mut found = Vec::new();
    let mut read_nodes = Vec::new();
    for vc in Api::<VectorCluster>::all(client.clone())
        .list(&placed)
        .await?
        .items
    {
        if let Some((organization_id, resource_id)) = labels(&vc.metadata) {
            let ready_nodes = vc.status.as_ref().map_or(0, |s| s.ready_nodes);
            let storage_bytes = capacity
                .get(&(vc.namespace().unwrap_or_default(), vc.name_any()))
                .copied()
                .unwrap_or(0);
            let (points, requests) = match access(client, &vc, ready_nodes).await {
                Some(access) => {
                    let nodes = node_requests(qdrant, &vc, &access).await;
                    read_nodes.extend(nodes.iter().map(|(node, _)| node.clone()));
                    (
                        cluster_points(qdrant, &vc, &access).await,
                        counters.record(&nodes),
                    )
                }
                None => (None, None),
            };
            found.push(Running {
                organization_id,
                resource_id,
                kind: Kind::Cluster {
                    ready_nodes,
                    storage_bytes,
                    points,
                    requests,
                },
            });
        }
    }
    for ie in Api::<InferenceEndpoint>::all(client.clone())
        .list(&placed)
        .await?
        .items
    {
        if let Some((organization_id, resource_id)) = labels(&ie.metadata) {
            found.push(Running {
                organization_id,
                resource_id,
                kind: Kind::Endpoint {
                    ready_replicas: ie.status.as_ref().map_or(0, |s| s.ready_replicas),
                    gpus: ie.spec.gpu.count,
                    gpu_model: ie.spec.gpu.model.clone(),
                },
            });
        }
    }
    counters.retain(&read_nodes);
    Ok(found)
}

/// How the collector reaches a cluster's engine: its namespace, names and
/// keys.
struct Access {
    namespace: String,
    names: crate::names::Names,
    keys: crate::build::ApiKeys,
}

/// `None` while no node is ready (nothing to ask) or when the cluster's
/// keys cannot be read now.
async fn access(
    client: &kube::Client,
    vc: &crate::crd::vector_cluster::VectorCluster,
    ready_nodes: u32,
) -> Option<Access> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::ResourceExt;
    if ready_nodes == 0 {
        return None;
    }
    let namespace = vc.namespace()?;
    let names = crate::names::Names::of(&vc.name_any()).ok()?;
    let secret = kube::Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&names.api_key_secret)
        .await
        .ok()??;
    let keys = crate::build::ApiKeys::from_secret(&secret)?;
    Some(Access {
        namespace,
        names,
        keys,
    })
}

/// The cluster's point count from Qdrant itself, with the cluster's admin
/// key; `None` (and no `object_count` event) when it cannot be read now.
async fn cluster_points(
    qdrant: &crate::engine::QdrantHttp,
    vc: &crate::crd::vector_cluster::VectorCluster,
    access: &Access,
) -> Option<u64> {
    use kube::ResourceExt;
    let endpoint = vc.status.as_ref()?.endpoint.clone()?;
    match qdrant.points(&endpoint, &access.keys.admin).await {
        Ok(points) => Some(points),
        Err(err) => {
            tracing::warn!(cluster = %vc.name_any(), error = %err, "reading the point count failed");
            None
        }
    }
}

/// Each node's request counter, read on the node itself (each keeps its
/// own): by its address, `None` where it could not be read.
async fn node_requests(
    qdrant: &crate::engine::QdrantHttp,
    vc: &crate::crd::vector_cluster::VectorCluster,
    access: &Access,
) -> Vec<(String, Option<u64>)> {
    use kube::ResourceExt;
    let mut nodes = Vec::new();
    for ordinal in 0..vc.spec.nodes {
        let url = crate::build::backup_job::node_url(&access.names, &access.namespace, ordinal);
        let reading = match qdrant.qdrant_requests(&url, &access.keys.read_only).await {
            Ok(total) => Some(total),
            Err(err) => {
                tracing::warn!(cluster = %vc.name_any(), node = ordinal, error = %err, "reading the request counter failed");
                None
            }
        };
        nodes.push((url, reading));
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn running() -> Vec<Running> {
        vec![
            Running {
                organization_id: "org-1".into(),
                resource_id: "c-1".into(),
                kind: Kind::Cluster {
                    ready_nodes: 3,
                    storage_bytes: 3 * 10 * (1 << 30),
                    points: Some(12_345),
                    requests: Some(42),
                },
            },
            Running {
                organization_id: "org-1".into(),
                resource_id: "e-1".into(),
                kind: Kind::Endpoint {
                    ready_replicas: 2,
                    gpus: 4,
                    gpu_model: "nvidia-h100-80gb".into(),
                },
            },
            Running {
                organization_id: "org-2".into(),
                resource_id: "e-2".into(),
                kind: Kind::Endpoint {
                    ready_replicas: 0,
                    gpus: 1,
                    gpu_model: "nvidia-l4".into(),
                },
            },
        ]
    }

    #[test]
    fn one_interval_of_usage_per_resource() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 42).unwrap();
        let events = sample(
            "dataplane/eu-1/collector",
            now,
            Duration::seconds(60),
            &running(),
        );
        let summary: Vec<(String, u64)> = events
            .iter()
            .map(|e| {
                (
                    e["data"]["meter"].as_str().unwrap().to_owned(),
                    e["data"]["value"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("node_seconds".into(), 180),
                ("storage_bytes".into(), 3 * 10 * (1 << 30)),
                ("object_count".into(), 12_345),
                ("requests".into(), 42),
                ("gpu_seconds".into(), 2 * 4 * 60),
            ]
        );
        let requests = &events[3];
        assert_eq!(requests["subject"], "organizations/org-1/clusters/c-1");
        assert_eq!(
            requests["id"],
            format!("c-1/requests//{}", now.timestamp() - 42)
        );
        assert!(requests["data"].get("dimension").is_none());
        let gpu = &events[4];
        assert_eq!(gpu["subject"], "organizations/org-1/endpoints/e-1");
        assert_eq!(gpu["data"]["dimension"], "nvidia-h100-80gb");
        assert_eq!(gpu["time"], "2026-11-25T12:00:00Z");
    }

    #[test]
    fn requests_are_reported_with_their_increase_only_when_the_counter_was_read() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 42).unwrap();
        let node = "http://search-0.search-peers.org-acme.svc:6333".to_owned();
        let mut counters = Counters::default();
        let mut reported = |reading: Option<u64>| {
            let cluster = Running {
                organization_id: "org-1".into(),
                resource_id: "c-1".into(),
                kind: Kind::Cluster {
                    ready_nodes: 1,
                    storage_bytes: 1 << 30,
                    points: None,
                    requests: counters.record(&[(node.clone(), reading)]),
                },
            };
            sample("s", now, Duration::seconds(60), &[cluster])
                .iter()
                .filter(|e| e["data"]["meter"] == "requests")
                .map(|e| e["data"]["value"].as_u64().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            reported(Some(100)),
            [0u64; 0],
            "a first reading has no increase"
        );
        assert_eq!(reported(Some(130)), [30]);
        assert_eq!(reported(Some(130)), [0], "read and idle: a zero");
        assert_eq!(reported(None), [0u64; 0], "unreadable: no event at all");
    }

    #[test]
    fn ids_are_the_same_for_the_same_interval_and_differ_across_intervals() {
        let at = |s| Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, s).unwrap();
        let a = sample("s", at(5), Duration::seconds(60), &running());
        let b = sample("s", at(55), Duration::seconds(60), &running());
        assert_eq!(a, b, "a resend within the interval is the same report");
        let later = sample(
            "s",
            at(5) + Duration::seconds(60),
            Duration::seconds(60),
            &running(),
        );
        assert_ne!(a[0]["id"], later[0]["id"]);
    }
}
