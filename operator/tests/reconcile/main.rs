//! The reconciler against a mocked API server: every request asserted, in
//! order. With `QM_TEST_KUBECONFIG` set, `real_cluster` runs the same
//! journey against a real API server.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on the first unexpected value"
)]

mod apiserver_rules;
mod backup;
mod collector;
mod endpoint;
mod harness;
mod lease;
#[path = "../common/moto.rs"]
mod moto;
mod network_policy;
mod policy_eval;
mod qdrant;
mod qdrant_openapi;
#[path = "../common/qdrant_schema.rs"]
mod qdrant_schema;
mod real_cluster;
mod real_data_plane;
mod resync;
mod rollout_liveness;
mod scaling;
mod volumes;
mod watched;

use std::time::Duration;

use chrono::Timelike;
use harness::{Applied, CLUSTER_PATH, Harness, World, not_found, respond};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::controller::Action;
use operator::crd::maintenance::MaintenanceWindow;
use operator::crd::vector_cluster::NodeResources;
use operator::engine::EngineHealth;
use operator::reconcile::FINALIZER;
use operator::{EngineVersion, VectorCluster, VectorClusterSpec};
use serde_json::{Value, json};
use watched::Held;

pub fn cluster(version: EngineVersion, nodes: u32, replication_factor: u32) -> VectorCluster {
    let mut vc = VectorCluster::new(
        "search",
        VectorClusterSpec::new(
            version,
            nodes,
            replication_factor,
            NodeResources {
                cpu_millicores: 1000,
                memory_mib: 2048,
                storage_gib: 10,
            },
        ),
    );
    vc.metadata.namespace = Some(harness::NS.to_owned());
    vc.metadata.uid = Some("7d3a0c6e-1111-4000-8000-000000000001".to_owned());
    vc.metadata.generation = Some(1);
    vc.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    vc
}

pub fn v(minor: u16) -> EngineVersion {
    EngineVersion::new(1, minor, 0)
}

fn pod(ordinal: u32, revision: &str, ready: bool, waiting: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": format!("search-{ordinal}"), "namespace": "org-acme",
                      "labels": { "controller-revision-hash": revision } },
        "status": {
            "conditions": [{ "type": "Ready", "status": if ready { "True" } else { "False" } }],
            "containerStatuses": [{
                "name": "qdrant", "image": "qdrant", "imageID": "", "ready": ready, "restartCount": 0,
                "state": match waiting {
                    Some(reason) => json!({ "waiting": { "reason": reason } }),
                    None => json!({ "running": {} }),
                },
            }],
        },
    }))
    .unwrap()
}

/// The data plane after the StatefulSet controller acted on `applied`:
/// the StatefulSet with its status, and the given pods.
fn world_after(applied: &Applied, update_revision: &str, ready: i32, pods: Vec<Pod>) -> World {
    let mut sts: StatefulSet = applied.statefulset();
    sts.metadata.generation = Some(1);
    sts.status = Some(StatefulSetStatus {
        observed_generation: Some(1),
        replicas: sts.spec.as_ref().unwrap().replicas.unwrap(),
        ready_replicas: Some(ready),
        update_revision: Some(update_revision.to_owned()),
        ..StatefulSetStatus::default()
    });
    World {
        secret: Some(applied.secret()),
        statefulset: Some(sts),
        pods,
        ..World::default()
    }
}

/// Creates `vc` and brings every node up on revision `r1`: the cluster with
/// its Ready status, the data plane as it then is, and the pass that made it
/// Ready. Events so far are taken.
async fn brought_up(h: &mut Harness, vc: VectorCluster) -> (VectorCluster, World, Applied) {
    let nodes = vc.spec.nodes;
    let first = h.reconcile(&vc, &World::default()).await;
    let pods = (0..nodes).map(|o| pod(o, "r1", true, None)).collect();
    let world = world_after(&first, "r1", i32::try_from(nodes).unwrap(), pods);
    let ready = h
        .reconcile(&with_status(vc.clone(), &first.status), &world)
        .await;
    assert_eq!(ready.status.as_ref().unwrap()["phase"], "Ready");
    h.events.take();
    (with_status(vc, &ready.status), world, ready)
}

fn with_status(mut vc: VectorCluster, status: &Option<Value>) -> VectorCluster {
    if let Some(status) = status {
        vc.status = Some(serde_json::from_value(status.clone()).unwrap());
    }
    vc
}

fn healthy(peers: u32) -> EngineHealth {
    EngineHealth {
        peers,
        ..EngineHealth::default()
    }
}

#[tokio::test]
async fn a_new_cluster_gets_its_finalizer_and_the_same_pass_goes_on() {
    let mut h = Harness::new();
    let mut vc = cluster(v(13), 3, 2);
    vc.metadata.finalizers = None;
    vc.metadata.resource_version = Some("7".to_owned());
    let task = h.start(&vc);
    let (call, send) = h.server.expect("PATCH", CLUSTER_PATH).await;
    assert_eq!(call.content_type, "application/json-patch+json");
    assert_eq!(
        call.body,
        json!([
            { "op": "test", "path": "/metadata/finalizers", "value": null },
            { "op": "add", "path": "/metadata/finalizers", "value": [FINALIZER] },
        ])
    );
    let mut held = vc.clone();
    held.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
    held.metadata.resource_version = Some("8".to_owned());
    respond(send, 200, &serde_json::to_value(&held).unwrap());

    // No second pass waits for the watch: this one reads on at once.
    let _read = h
        .server
        .expect("GET", "/api/v1/namespaces/org-acme/secrets/search-api-keys")
        .await;
    task.abort();
    assert!(
        h.ctx.own_writes.echoes(&held.metadata),
        "the echo of the finalizer's write triggers nothing"
    );
}

#[tokio::test]
async fn a_pass_given_an_object_older_than_our_last_write_waits_for_the_store() {
    let mut h = Harness::new();
    let mut vc = cluster(v(13), 3, 2);
    vc.metadata.resource_version = Some("7".to_owned());
    let mut written = vc.metadata.clone();
    written.resource_version = Some("9".to_owned());
    h.ctx.own_writes.wrote(&written);

    let action = h.start(&vc).await.unwrap().unwrap();

    h.server.expect_nothing().await;
    assert_eq!(action, Action::requeue(Duration::from_millis(500)));
}

#[tokio::test]
async fn a_new_cluster_reads_nothing_once_the_watches_have_listed_none_of_its_children() {
    let mut h = Harness::new();
    let vc = cluster(v(13), 3, 2);
    let world = World {
        watched: Some(Held::default()),
        ..World::default()
    };

    // Any read would arrive where the harness expects the first applies.
    let first = h.reconcile(&vc, &world).await;

    assert_eq!(first.partition(), 0);
    assert_eq!(first.secret().data.unwrap()["api-key"].0.len(), 43);
    assert_eq!(first.status.unwrap()["phase"], "Provisioning");
}

#[tokio::test]
async fn a_cluster_whose_secret_the_watches_list_reads_it_and_keeps_its_keys() {
    let mut h = Harness::new();
    let vc = cluster(v(13), 3, 2);
    let first = h.reconcile(&vc, &World::default()).await;

    // The operator restarts; its watches list the Secret, not the
    // StatefulSet (deleted by hand, say).
    let mut h = Harness::new();
    let world = World {
        secret: Some(first.secret()),
        watched: Some(Held::from([("secret", first.objects["secret"].clone())])),
        ..World::default()
    };
    let again = h.reconcile(&vc, &world).await;

    assert_eq!(again.secret().data, first.secret().data);
}

#[tokio::test]
async fn create_then_a_second_reconcile_changes_nothing() {
    let mut h = Harness::new();
    let vc = cluster(v(13), 3, 2);

    // First pass: nothing exists; everything is applied, keys are generated.
    let first = h.reconcile(&vc, &World::default()).await;
    assert_eq!(first.objects["statefulset"]["spec"]["replicas"], 3);
    assert_eq!(first.partition(), 0);
    assert_eq!(first.image(), "qdrant/qdrant:v1.13.0");
    let status = first.status.clone().unwrap();
    assert_eq!(status["phase"], "Provisioning");
    assert_eq!(
        status["endpoint"],
        "http://search.org-acme.svc.cluster.local:6333"
    );
    assert_eq!(h.events.take(), [(false, "Provisioning")]);
    let keys = first.secret().data.unwrap();
    assert_eq!(keys["api-key"].0.len(), 43);

    // The nodes come up: Ready, with the version current.
    let pods = (0..3).map(|o| pod(o, "r1", true, None)).collect();
    let world = world_after(&first, "r1", 3, pods);
    let ready = h
        .reconcile(&with_status(vc.clone(), &first.status), &world)
        .await;
    let status = ready.status.clone().unwrap();
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["currentVersion"], "1.13.0");
    assert_eq!(status["readyNodes"], 3);
    assert_eq!(h.events.take(), [(false, "Ready")]);
    assert_eq!(ready.secret(), first.secret(), "existing keys are kept");

    // Nothing changed since: the same objects are applied, no status patch, no event.
    let again = h.reconcile(&with_status(vc, &ready.status), &world).await;
    assert_eq!(again.objects, ready.objects);
    assert_eq!(again.status, None);
    assert!(h.events.take().is_empty());
    assert!(h.qdrant.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn scaling_three_to_five_nodes_changes_replicas_without_a_rollout() {
    let mut h = Harness::new();
    let (mut bigger, world, ready) = brought_up(&mut h, cluster(v(13), 3, 2)).await;
    bigger.spec.nodes = 5;
    bigger.metadata.generation = Some(2);
    let scaled = h.reconcile(&bigger, &world).await;
    assert_eq!(scaled.objects["statefulset"]["spec"]["replicas"], 5);
    assert_eq!(scaled.partition(), 0);
    assert_eq!(
        scaled.objects["statefulset"]["spec"]["template"],
        ready.objects["statefulset"]["spec"]["template"],
        "the pod template is untouched, so no pod restarts"
    );
    let status = scaled.status.unwrap();
    assert_eq!(status["phase"], "Updating");
    assert_eq!(status["observedGeneration"], 2);
}

#[tokio::test]
async fn an_upgrade_rolls_one_pod_at_a_time_as_each_turns_ready() {
    let mut h = Harness::new();
    let old = cluster(v(12), 3, 2);
    let first = h.reconcile(&old, &World::default()).await;
    let pods = (0..3).map(|o| pod(o, "r12", true, None)).collect();
    let settled = h
        .reconcile(
            &with_status(old.clone(), &first.status),
            &world_after(&first, "r12", 3, pods),
        )
        .await;
    h.events.take();
    let mut vc = with_status(old, &settled.status);
    vc.spec.version = v(13);
    vc.metadata.generation = Some(2);
    let world12 = world_after(
        &settled,
        "r12",
        3,
        (0..3).map(|o| pod(o, "r12", true, None)).collect(),
    );

    // The new template goes in with the partition at the highest ordinal.
    let start = h.reconcile(&vc, &world12).await;
    assert_eq!(
        (start.partition(), start.image()),
        (2, "qdrant/qdrant:v1.13.0")
    );
    let status = start.status.clone().unwrap();
    assert_eq!(
        (
            status["phase"].as_str(),
            status["currentVersion"].as_str(),
            status["targetVersion"].as_str()
        ),
        (Some("Updating"), Some("1.12.0"), Some("1.13.0"))
    );
    assert_eq!(h.events.take(), [(false, "Updating")]);
    let vc = with_status(vc, &start.status);

    // search-2 restarts on the new version but is not Ready: hold at 2.
    let pods = vec![
        pod(0, "r12", true, None),
        pod(1, "r12", true, None),
        pod(2, "r13", false, None),
    ];
    let hold = h.reconcile(&vc, &world_after(&start, "r13", 2, pods)).await;
    assert_eq!(hold.partition(), 2);
    assert!(
        h.qdrant.calls.lock().unwrap().is_empty(),
        "Qdrant is asked only once Kubernetes is satisfied"
    );
    let vc = with_status(vc, &hold.status);

    // search-2 Ready, Qdrant healthy: move to 1.
    h.qdrant.answers.lock().unwrap().push(healthy(3));
    let pods = vec![
        pod(0, "r12", true, None),
        pod(1, "r12", true, None),
        pod(2, "r13", true, None),
    ];
    let step1 = h.reconcile(&vc, &world_after(&hold, "r13", 3, pods)).await;
    assert_eq!(step1.partition(), 1);
    assert_eq!(h.events.take(), [(false, "NodeUpgraded")]);
    let calls = h.qdrant.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "http://search.org-acme.svc.cluster.local:6333");
    assert_eq!(calls[0].1.len(), 43, "asked with the cluster's admin key");
    let vc = with_status(vc, &step1.status);

    // Qdrant still moving shards: hold at 1 even though search-1 is Ready.
    h.qdrant.answers.lock().unwrap().push(EngineHealth {
        peers: 3,
        pending_transfers: 1,
        ..EngineHealth::default()
    });
    let pods = vec![
        pod(0, "r12", true, None),
        pod(1, "r13", true, None),
        pod(2, "r13", true, None),
    ];
    let wait = h
        .reconcile(&vc, &world_after(&step1, "r13", 3, pods.clone()))
        .await;
    assert_eq!(wait.partition(), 1);
    let message = wait.status.as_ref().unwrap()["conditions"][1]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("Qdrant is moving 1 shard"), "{message}");
    let vc = with_status(vc, &wait.status);

    h.qdrant.answers.lock().unwrap().push(healthy(3));
    let step0 = h.reconcile(&vc, &world_after(&wait, "r13", 3, pods)).await;
    assert_eq!(step0.partition(), 0);
    let vc = with_status(vc, &step0.status);

    // All three on the new version and Ready: done.
    let pods = (0..3).map(|o| pod(o, "r13", true, None)).collect();
    let done = h.reconcile(&vc, &world_after(&step0, "r13", 3, pods)).await;
    assert_eq!(done.partition(), 0);
    let status = done.status.unwrap();
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["currentVersion"], "1.13.0");
    // `null` in a merge patch removes the field.
    assert_eq!(status["targetVersion"], Value::Null);
    assert!(h.qdrant.answers.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_upgrade_of_a_backed_up_cluster_waits_for_a_backup_first() {
    let mut h = Harness::new();
    let mut old = cluster(v(12), 3, 2);
    old.spec.backup = Some(
        serde_json::from_value(json!({
            "schedule": "0 2 * * *", "retention": { "count": 7, "maxAgeDays": 7 },
            "destination": { "bucket": "backups", "endpoint": "http://s3.test:9000",
                             "credentialsSecret": "backup-credentials" }
        }))
        .unwrap(),
    );
    let first = h.reconcile(&old, &World::default()).await;
    let pods = (0..3).map(|o| pod(o, "r12", true, None)).collect();
    let settled = h
        .reconcile(
            &with_status(old.clone(), &first.status),
            &world_after(&first, "r12", 3, pods),
        )
        .await;
    h.events.take();
    let mut vc = with_status(old, &settled.status);
    vc.spec.version = v(13);
    vc.metadata.generation = Some(2);
    let world12 = world_after(
        &settled,
        "r12",
        3,
        (0..3).map(|o| pod(o, "r12", true, None)).collect(),
    );
    let backup_path = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusterbackups/search-pre-1-13-0";
    let backup = |phase: Option<&str>| {
        let mut b = json!({
            "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterBackup",
            "metadata": { "name": "search-pre-1-13-0", "namespace": "org-acme" },
            "spec": { "cluster": "search", "destination": old_destination() }
        });
        if let Some(phase) = phase {
            b["status"] = json!({ "phase": phase });
        }
        b
    };

    // The upgrade asks for a backup and holds every node on 1.12.
    let held = h
        .reconcile_with(
            &vc,
            &world12,
            vec![
                ("GET", backup_path.to_owned(), 404, harness::not_found()),
                ("PATCH", backup_path.to_owned(), 200, backup(None)),
            ],
        )
        .await;
    assert_eq!(held.partition(), 3, "no pod may move yet");
    assert_eq!(held.objects["between"]["spec"]["cluster"], "search");
    let status = held.status.clone().unwrap();
    assert_eq!(status["phase"], "Updating");
    assert!(
        status["conditions"]
            .to_string()
            .contains("taking backup search-pre-1-13-0 before upgrading to 1.13.0"),
        "{status}"
    );
    let vc = with_status(vc, &held.status);
    let world = world_after(
        &held,
        "r13",
        3,
        (0..3).map(|o| pod(o, "r12", true, None)).collect(),
    );

    // Still running: still held.
    let still = h
        .reconcile_with(
            &vc,
            &world,
            vec![("GET", backup_path.to_owned(), 200, backup(Some("Running")))],
        )
        .await;
    assert_eq!(still.partition(), 3);

    // Stored: the rollout begins at the highest ordinal.
    let begun = h
        .reconcile_with(
            &vc,
            &world,
            vec![(
                "GET",
                backup_path.to_owned(),
                200,
                backup(Some("Succeeded")),
            )],
        )
        .await;
    assert_eq!(begun.partition(), 2);
}

/// A daily window `hours_from_now` hours off (1 h long), or one open now.
fn window(opens_in_hours: Option<u32>) -> MaintenanceWindow {
    let hour = chrono::Utc::now().hour();
    match opens_in_hours {
        Some(ahead) => MaintenanceWindow {
            day: None,
            start_hour: (hour + ahead) % 24,
            duration_hours: 1,
        },
        // From an hour ago to two hours ahead: open whatever the minute.
        None => MaintenanceWindow {
            day: None,
            start_hour: (hour + 23) % 24,
            duration_hours: 3,
        },
    }
}

#[tokio::test]
async fn an_upgrade_waits_for_the_maintenance_window_and_once_begun_goes_on_past_it() {
    let mut h = Harness::new();
    let mut old = cluster(v(12), 3, 2);
    old.spec.maintenance_window = Some(window(Some(12)));
    let first = h.reconcile(&old, &World::default()).await;
    let pods = (0..3).map(|o| pod(o, "r12", true, None)).collect();
    let settled = h
        .reconcile(
            &with_status(old.clone(), &first.status),
            &world_after(&first, "r12", 3, pods),
        )
        .await;
    h.events.take();
    let mut vc = with_status(old, &settled.status);
    vc.spec.version = v(13);
    vc.metadata.generation = Some(2);
    let on_12 = || {
        (0..3)
            .map(|o| pod(o, "r12", true, None))
            .collect::<Vec<_>>()
    };

    // Outside the window: the new template goes in with every node held,
    // and the cluster stays Ready on 1.12 with the upgrade pending.
    let waiting = h
        .reconcile(&vc, &world_after(&settled, "r12", 3, on_12()))
        .await;
    assert_eq!(
        (waiting.partition(), waiting.image()),
        (3, "qdrant/qdrant:v1.13.0")
    );
    let status = waiting.status.clone().unwrap();
    assert_eq!(
        (
            status["phase"].as_str(),
            status["currentVersion"].as_str(),
            status["targetVersion"].as_str()
        ),
        (Some("Ready"), Some("1.12.0"), Some("1.13.0"))
    );
    let progressing = &status["conditions"][1];
    assert_eq!(
        (
            &progressing["type"],
            &progressing["status"],
            &progressing["reason"]
        ),
        (
            &json!("Progressing"),
            &json!("True"),
            &json!("WaitingForMaintenanceWindow")
        )
    );
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .starts_with("1.13.0 waits for the maintenance window (daily "),
        "{progressing}"
    );
    let vc = with_status(vc, &waiting.status);
    let still = h
        .reconcile(&vc, &world_after(&waiting, "r13", 3, on_12()))
        .await;
    assert_eq!(still.partition(), 3, "still outside the window");
    assert!(h.events.take().is_empty(), "nothing happened to report");

    // The window opens: the roll begins at the highest ordinal.
    let mut vc = with_status(vc, &still.status);
    vc.spec.maintenance_window = Some(window(None));
    let begun = h
        .reconcile(&vc, &world_after(&still, "r13", 3, on_12()))
        .await;
    assert_eq!(begun.partition(), 2);

    // It closes with search-2 on 1.13: the roll goes on rather than stop
    // half-way.
    let mut vc = with_status(vc, &begun.status);
    vc.spec.maintenance_window = Some(window(Some(12)));
    h.qdrant.answers.lock().unwrap().push(healthy(3));
    let pods = vec![
        pod(0, "r12", true, None),
        pod(1, "r12", true, None),
        pod(2, "r13", true, None),
    ];
    let next = h.reconcile(&vc, &world_after(&begun, "r13", 3, pods)).await;
    assert_eq!(next.partition(), 1);
}

fn old_destination() -> Value {
    json!({ "bucket": "backups", "prefix": "", "endpoint": "http://s3.test:9000",
            "region": "us-east-1", "credentialsSecret": "backup-credentials" })
}

#[tokio::test]
async fn a_failing_new_version_halts_the_rollout_and_touches_no_other_pod() {
    let mut h = Harness::new();
    let old = cluster(v(12), 3, 2);
    let first = h.reconcile(&old, &World::default()).await;
    let settled_pods = (0..3).map(|o| pod(o, "r12", true, None)).collect();
    let settled = h
        .reconcile(
            &with_status(old.clone(), &first.status),
            &world_after(&first, "r12", 3, settled_pods),
        )
        .await;
    let mut vc = with_status(old, &settled.status);
    vc.spec.version = v(13);
    let start = h
        .reconcile(
            &vc,
            &world_after(
                &settled,
                "r12",
                3,
                (0..3).map(|o| pod(o, "r12", true, None)).collect(),
            ),
        )
        .await;
    let vc = with_status(vc, &start.status);
    h.events.take();

    let pods = vec![
        pod(0, "r12", true, None),
        pod(1, "r12", true, None),
        pod(2, "r13", false, Some("CrashLoopBackOff")),
    ];
    let halted = h
        .reconcile(&vc, &world_after(&start, "r13", 2, pods.clone()))
        .await;
    assert_eq!(
        halted.partition(),
        2,
        "search-0 and search-1 keep the old version"
    );
    let status = halted.status.clone().unwrap();
    assert_eq!(status["phase"], "Degraded");
    let degraded = status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Degraded")
        .unwrap()
        .clone();
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "RolloutHalted");
    assert_eq!(
        degraded["message"],
        "search-2 fails on the new version: CrashLoopBackOff"
    );
    assert_eq!(h.events.take(), [(true, "RolloutHalted")]);

    // It stays halted, quietly, until someone changes the spec.
    let again = h
        .reconcile(
            &with_status(vc, &halted.status),
            &world_after(&start, "r13", 2, pods),
        )
        .await;
    assert_eq!(again.partition(), 2);
    assert_eq!(again.status, None);
    assert!(h.events.take().is_empty());
    assert!(h.qdrant.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn delete_waits_for_the_statefulset_then_releases_the_finalizer() {
    let mut h = Harness::new();
    let mut vc = cluster(v(13), 3, 2);
    vc.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));

    // First pass: report Deleting, delete the StatefulSet in the foreground, keep the finalizer.
    let task = h.start(&vc);
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{CLUSTER_PATH}/status"))
        .await;
    assert_eq!(call.body["status"]["phase"], "Deleting");
    respond(send, 200, &serde_json::to_value(&vc).unwrap());
    let (_, send) = h
        .server
        .expect(
            "GET",
            "/apis/apps/v1/namespaces/org-acme/statefulsets/search",
        )
        .await;
    respond(
        send,
        200,
        &json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": "search", "namespace": "org-acme" } }),
    );
    let (call, send) = h
        .server
        .expect(
            "DELETE",
            "/apis/apps/v1/namespaces/org-acme/statefulsets/search",
        )
        .await;
    assert_eq!(call.body["propagationPolicy"], "Foreground");
    respond(
        send,
        200,
        &json!({ "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": { "name": "search", "namespace": "org-acme" } }),
    );
    let result = task.await.unwrap();
    assert!(
        matches!(result, Err(ref e) if e.category() == "deleting"),
        "{result:?}"
    );
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(false, "Deleting")]);

    // Second pass: the StatefulSet is gone; the finalizer is removed.
    vc.status = Some(serde_json::from_value(json!({ "phase": "Deleting" })).unwrap());
    let task = h.start(&vc);
    let (_, send) = h
        .server
        .expect(
            "GET",
            "/apis/apps/v1/namespaces/org-acme/statefulsets/search",
        )
        .await;
    respond(send, 404, &not_found());
    let (call, send) = h.server.expect("PATCH", CLUSTER_PATH).await;
    assert_eq!(
        call.body[1],
        json!({ "op": "remove", "path": "/metadata/finalizers/0" })
    );
    respond(send, 200, &serde_json::to_value(&vc).unwrap());
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
}

#[tokio::test]
async fn an_invalid_spec_is_reported_and_nothing_is_applied() {
    let mut h = Harness::new();
    let vc = cluster(v(13), 2, 3);
    let task = h.start(&vc);
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{CLUSTER_PATH}/status"))
        .await;
    assert_eq!(call.body["status"]["phase"], "Degraded");
    let degraded = &call.body["status"]["conditions"][2];
    assert_eq!(degraded["reason"], "InvalidSpec");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap()
            .starts_with("spec.replicationFactor: "),
        "named as the resource spells it: {degraded}"
    );
    respond(send, 200, &serde_json::to_value(&vc).unwrap());
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(true, "InvalidSpec")]);
}

#[tokio::test]
async fn a_version_below_the_running_one_is_refused_and_no_node_rolls_back() {
    let mut h = Harness::new();
    let mut vc = cluster(v(13), 3, 2);
    vc.status = Some(
        serde_json::from_value(json!({ "phase": "Ready", "currentVersion": "1.14.0" })).unwrap(),
    );
    let task = h.start(&vc);
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{CLUSTER_PATH}/status"))
        .await;
    let status = &call.body["status"];
    assert_eq!(status["phase"], "Degraded");
    assert_eq!(status["currentVersion"], "1.14.0", "still what runs");
    let degraded = &status["conditions"][2];
    assert_eq!(degraded["reason"], "InvalidSpec");
    assert_eq!(
        degraded["message"],
        "spec.version: cannot downgrade from 1.14.0 to 1.13.0: Qdrant's storage format only moves forward"
    );
    respond(send, 200, &serde_json::to_value(&vc).unwrap());
    task.await.unwrap().unwrap();
    // Not a single child is applied, so the StatefulSet keeps its template.
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(true, "InvalidSpec")]);
}
