//! The usage collector: every interval it samples each cluster and endpoint
//! of this data plane and reports CloudEvents to the control plane.
//!
//! Sampling is pure ([`sample`]) and its event ids are deterministic (the
//! resource, the meter and the interval's start), so a report sent twice
//! counts once. Each interval's events are written to a spool file before
//! they are sent ([`spool`]), and a file is removed only once the control
//! plane has acknowledged it: a crash or an outage delays usage, never
//! loses it.

pub mod spool;

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
                if let Some(points) = points {
                    events.push(event(
                        source,
                        resource,
                        window,
                        "object_count",
                        None,
                        *points,
                    ));
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
/// (labelled with its organization and id).
pub async fn running(
    client: &kube::Client,
    qdrant: &crate::engine::QdrantHttp,
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
            let points = if ready_nodes > 0 {
                cluster_points(client, qdrant, &vc).await
            } else {
                None
            };
            found.push(Running {
                organization_id,
                resource_id,
                kind: Kind::Cluster {
                    ready_nodes,
                    storage_bytes,
                    points,
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
    Ok(found)
}

/// The cluster's point count from Qdrant itself, with the cluster's admin
/// key; `None` (and no `object_count` event) when it cannot be read now.
async fn cluster_points(
    client: &kube::Client,
    qdrant: &crate::engine::QdrantHttp,
    vc: &crate::crd::vector_cluster::VectorCluster,
) -> Option<u64> {
    use k8s_openapi::api::core::v1::Secret;
    use kube::ResourceExt;
    let namespace = vc.namespace()?;
    let names = crate::names::Names::of(&vc.name_any()).ok()?;
    let secret = kube::Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(&names.api_key_secret)
        .await
        .ok()??;
    let keys = crate::build::ApiKeys::from_secret(&secret)?;
    let endpoint = vc.status.as_ref()?.endpoint.clone()?;
    match qdrant.points(&endpoint, &keys.admin).await {
        Ok(points) => Some(points),
        Err(err) => {
            tracing::warn!(cluster = %vc.name_any(), error = %err, "reading the point count failed");
            None
        }
    }
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
                ("gpu_seconds".into(), 2 * 4 * 60),
            ]
        );
        let gpu = &events[3];
        assert_eq!(gpu["subject"], "organizations/org-1/endpoints/e-1");
        assert_eq!(gpu["data"]["dimension"], "nvidia-h100-80gb");
        assert_eq!(gpu["time"], "2026-11-25T12:00:00Z");
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
