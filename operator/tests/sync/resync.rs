//! What the desired state comes to in the data plane: the tenant baseline
//! and the resource, labelled and annotated as the push path does it, the
//! local bucket filled in, the restore once the cluster is ready, the
//! status reported back; a complete state on a settled plane writes
//! nothing; a deletion is applied and reported gone.

use crds::backup::{VectorClusterBackup, VectorClusterRestore};
use crds::inference_endpoint::InferenceEndpoint;
use crds::names::{LABEL_CLUSTER, LABEL_TENANT_ID};
use crds::sync::{GENERATION_ANNOTATION, Kind, Object, Observed};
use crds::tenant::{self, BACKUP_CREDENTIALS_SECRET, LABEL_ORGANIZATION};
use crds::vector_cluster::{FINALIZER, Phase, VectorCluster};
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota, Secret};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{Patch, PatchParams};
use operator::sync::APPLIED_HASH_ANNOTATION;
use serde_json::json;
use uuid::Uuid;

use super::{CLUSTER_ID, ORG, Plane, cluster, desired, eventually, manual_backup, tenant_ns};

fn acted_report(plane: &Plane) -> Option<(i64, Option<Phase>)> {
    plane
        .cp
        .reports()
        .into_iter()
        .rev()
        .find_map(|r| match r.observed {
            Observed::VectorCluster { applied, status } if r.id == CLUSTER_ID && applied.acted => {
                Some((applied.applied_generation, status.map(|s| s.phase)))
            }
            _ => None,
        })
}

#[tokio::test]
async fn a_desired_cluster_lands_in_its_tenant_namespace_and_its_status_comes_back() {
    let plane = Plane::new().await;
    let mut config = plane.config();
    plane.with_backups(&mut config);
    plane.cp.put(cluster());
    plane.cp.put(manual_backup());
    let _running = plane.start(config);
    let ns = tenant_ns();

    let vc = eventually("the cluster", || {
        plane.api.get::<VectorCluster>(&ns, "search")
    })
    .await;
    // The baseline, as the push path applies it.
    let baseline = tenant::baseline(ORG);
    let namespace = plane.api.get::<Namespace>("", &ns).unwrap();
    assert_eq!(
        namespace.metadata.labels,
        baseline.namespace.metadata.labels
    );
    let quota = plane
        .api
        .get::<ResourceQuota>(&ns, "quartermaster")
        .unwrap();
    assert_eq!(quota.spec, baseline.quota.spec);
    let deny = plane.api.get::<NetworkPolicy>(&ns, "default-deny").unwrap();
    assert_eq!(deny.spec, baseline.default_deny.spec);
    let key = plane
        .api
        .get::<Secret>(&ns, BACKUP_CREDENTIALS_SECRET)
        .unwrap();
    let data = key.data.unwrap_or_default();
    assert_eq!(data["AWS_ACCESS_KEY_ID"].0, b"AKIATEST");
    // The resource, labelled and annotated.
    let labels = vc.metadata.labels.clone().unwrap();
    assert_eq!(labels[LABEL_TENANT_ID], CLUSTER_ID.to_string());
    assert_eq!(labels[LABEL_ORGANIZATION], ORG.to_string());
    assert_eq!(labels["app.kubernetes.io/managed-by"], "quartermaster");
    let annotations = vc.metadata.annotations.clone().unwrap();
    assert_eq!(annotations[GENERATION_ANNOTATION], "1");
    assert!(annotations.contains_key(APPLIED_HASH_ANNOTATION));
    // The bucket is this data plane's; the prefix keeps the cluster's id.
    let destination = vc.spec.backup.unwrap().destination;
    assert_eq!(destination.bucket, "dp-backups");
    assert_eq!(destination.endpoint, "http://127.0.0.1:9000");
    assert_eq!(destination.region, "eu-west-1");
    assert_eq!(destination.prefix, format!("eu/{CLUSTER_ID}"));
    assert_eq!(destination.credentials_secret, BACKUP_CREDENTIALS_SECRET);
    let by_hand = eventually("the backup taken by hand", || {
        plane.api.get::<VectorClusterBackup>(&ns, "search-by-hand")
    })
    .await;
    assert_eq!(by_hand.spec.destination, destination);
    assert_eq!(by_hand.metadata.labels.unwrap()[LABEL_CLUSTER], "search");
    // Not ready yet: no restore.
    plane.settled().await;
    assert!(
        plane
            .api
            .get::<VectorClusterRestore>(&ns, "search-restore")
            .is_none()
    );
    assert_eq!(acted_report(&plane), None);

    // The reconciler acts on it.
    assert!(plane.api.set_status::<VectorCluster>(
        &ns,
        "search",
        json!({ "observedGeneration": 1, "phase": "Ready" })
    ));
    let (generation, phase) = eventually("an acted report", || acted_report(&plane)).await;
    assert_eq!((generation, phase), (1, Some(Phase::Ready)));
    let restore = eventually("the restore, once the cluster is ready", || {
        plane.api.get::<VectorClusterRestore>(&ns, "search-restore")
    })
    .await;
    assert_eq!(restore.spec.backup, "nightly");
    assert_eq!(restore.spec.target, "search");
}

#[tokio::test]
async fn a_complete_state_on_a_settled_data_plane_writes_nothing() {
    let plane = Plane::new().await;
    let mut config = plane.config();
    plane.with_backups(&mut config);
    plane.cp.put(cluster());
    plane.cp.put(manual_backup());
    let endpoint = desired(
        Uuid::from_u128(0xe1),
        "chat",
        Object::InferenceEndpoint {
            spec: Box::new(crds::fixtures::endpoint_spec("nvidia-l4", 1)),
            wake_requested_at: Some(chrono::Utc::now()),
        },
    );
    plane.cp.put(endpoint);
    let running = plane.start(config.clone());
    plane.settled().await;
    let ns = tenant_ns();
    plane.api.set_status::<VectorCluster>(
        &ns,
        "search",
        json!({ "observedGeneration": 1, "phase": "Ready" }),
    );
    eventually("the restore", || {
        plane.api.get::<VectorClusterRestore>(&ns, "search-restore")
    })
    .await;
    assert!(plane.api.get::<InferenceEndpoint>(&ns, "chat").is_some());
    running.stop().await.unwrap();

    let patches = plane.api.count("PATCH");
    let polls = plane.cp.lock().polls.len();
    let reports = plane.cp.reports().len();
    let again = plane.start(config);
    // The complete state (since 0), then a poll from its version: done.
    plane.settled().await;
    assert_eq!(plane.cp.lock().polls[polls], 0);
    // And the deliver loop has looked at the restore left pending.
    eventually("the reports of the restart", || {
        plane.cp.reports()[reports..]
            .iter()
            .any(|r| matches!(r.observed, Observed::VectorClusterRestore { .. }))
            .then_some(())
    })
    .await;
    again.stop().await.unwrap();
    assert_eq!(
        plane.api.count("PATCH"),
        patches,
        "{:#?}",
        &plane.api.requests()[..]
    );
}

#[tokio::test]
async fn a_deletion_is_applied_and_reported_gone() {
    let plane = Plane::new().await;
    let mut config = plane.config();
    plane.with_backups(&mut config);
    plane.cp.put(cluster());
    let _running = plane.start(config);
    let ns = tenant_ns();
    eventually("the cluster", || {
        plane.api.get::<VectorCluster>(&ns, "search")
    })
    .await;

    let mut gone = plane.cp.resource(CLUSTER_ID);
    gone.delete = true;
    plane.cp.put(gone);
    // The operator's finalizer, applied with the cluster, holds it until
    // the operator has cleaned up; here the test does what the operator
    // then does.
    let held = eventually("the deletion begun", || {
        plane
            .api
            .get::<VectorCluster>(&ns, "search")
            .filter(|vc| vc.metadata.deletion_timestamp.is_some())
    })
    .await;
    assert_eq!(held.metadata.finalizers, Some(vec![FINALIZER.to_owned()]));
    Api::<VectorCluster>::namespaced(plane.client.clone(), &ns)
        .patch(
            "search",
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .unwrap();
    eventually("the cluster deleted", || {
        plane
            .api
            .get::<VectorCluster>(&ns, "search")
            .is_none()
            .then_some(())
    })
    .await;
    eventually("a gone report", || {
        plane
            .cp
            .reports()
            .iter()
            .any(|r| {
                r.id == CLUSTER_ID
                    && r.observed
                        == Observed::Gone {
                            of: Kind::VectorCluster,
                        }
            })
            .then_some(())
    })
    .await;
    // The tenant's namespace stays: only what was asked goes.
    assert!(plane.api.get::<Namespace>("", &ns).is_some());
}
