//! The backup scheduler and runner against the mocked API server.

use chrono::{DateTime, Utc};
use operator::VectorCluster;
use operator::crd::backup::VectorClusterBackup;
use operator::reconcile::backup;
use serde_json::{Value, json};

use crate::harness::{Harness, not_found, respond};

const BACKUPS: &str = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusterbackups";
const CLUSTER: &str = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusters/search";
const JOBS: &str = "/apis/batch/v1/namespaces/org-acme/jobs";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn destination() -> Value {
    json!({ "bucket": "backups", "prefix": "org-acme", "endpoint": "http://s3.test:9000",
            "region": "us-east-1", "credentialsSecret": "backup-credentials" })
}

/// A 2-node cluster backed up daily at 02:00, created on Nov 24 at 10:00.
fn cluster(backups_status: Option<Value>) -> Value {
    let mut vc = json!({
        "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorCluster",
        "metadata": { "name": "search", "namespace": "org-acme", "uid": "c-1",
                      "creationTimestamp": "2026-11-24T10:00:00Z", "generation": 1 },
        "spec": {
            "version": "1.13.6", "nodes": 2, "replicationFactor": 2,
            "resources": { "cpuMillicores": 1000, "memoryMib": 2048, "storageGib": 10 },
            "backup": { "schedule": "0 2 * * *", "retention": { "count": 7, "maxAgeDays": 7 },
                        "destination": destination() }
        }
    });
    if let Some(backups) = backups_status {
        vc["status"] =
            json!({ "phase": "Ready", "conditions": [], "readyNodes": 2, "backups": backups });
    }
    vc
}

fn backup_object(name: &str, created: &str, phase: Option<&str>, extra: Value) -> Value {
    let scheduled = name.trim_start_matches("search-").replace('-', "T") + "Z";
    let mut object = json!({
        "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterBackup",
        "metadata": { "name": name, "namespace": "org-acme", "uid": format!("b-{name}"),
                      "creationTimestamp": created,
                      "labels": { "quartermaster.dev/cluster": "search",
                                  "quartermaster.dev/scheduled-at": scheduled } },
        "spec": { "cluster": "search", "destination": destination() }
    });
    if let Some(phase) = phase {
        let mut status = json!({ "phase": phase, "job": name });
        if let (Some(status), Some(extra)) = (status.as_object_mut(), extra.as_object()) {
            status.extend(extra.clone());
        }
        object["status"] = status;
    }
    object
}

fn list(items: Vec<Value>) -> Value {
    json!({ "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterBackupList",
            "metadata": {}, "items": items })
}

/// One scheduler pass: the list call answered with `items`, then the
/// requests the test expects, checked by `rest`.
async fn list_call(h: &mut Harness, items: Vec<Value>) {
    let (call, send) = h.server.expect("GET", BACKUPS).await;
    assert_eq!(
        call.query,
        "&labelSelector=quartermaster.dev%2Fcluster%3Dsearch"
    );
    respond(send, 200, &list(items));
}

async fn status_patch(h: &mut Harness, vc: &Value) -> Value {
    let (call, send) = h.server.expect("PATCH", &format!("{CLUSTER}/status")).await;
    assert_eq!(call.content_type, "application/merge-patch+json");
    respond(send, 200, vc);
    call.body["status"]["backups"].clone()
}

#[tokio::test]
async fn a_schedule_creates_one_backup_when_it_fires_and_none_before() {
    let mut h = Harness::new();
    let vc: VectorCluster = serde_json::from_value(cluster(None)).unwrap();

    // 01:00: nothing due yet; the status says when the next one is.
    let task = {
        let (vc, ctx) = (vc.clone(), h.ctx.clone());
        tokio::spawn(async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T01:00:00Z")).await })
    };
    list_call(&mut h, vec![]).await;
    let summary = status_patch(&mut h, &cluster(None)).await;
    // Explicit nulls: a merge patch clears what an earlier one set.
    assert_eq!(
        summary,
        json!({ "lastSuccess": null, "lastSuccessAt": null, "lastFailure": null,
                "lastFailureMessage": null, "nextAt": "2026-11-25T02:00:00Z", "verifying": null })
    );
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;

    // 02:00:30: the 02:00 backup is made, named for its time.
    let task = {
        let (vc, ctx) = (vc.clone(), h.ctx.clone());
        tokio::spawn(async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T02:00:30Z")).await })
    };
    list_call(&mut h, vec![]).await;
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{BACKUPS}/search-20261125-0200"))
        .await;
    assert!(
        call.query.contains("fieldManager=quartermaster-operator"),
        "{}",
        call.query
    );
    assert_eq!(
        call.body["spec"],
        json!({ "cluster": "search", "destination": destination() })
    );
    assert_eq!(
        call.body["metadata"]["labels"],
        json!({ "quartermaster.dev/cluster": "search", "quartermaster.dev/scheduled-at": "20261125T0200Z",
                "quartermaster.dev/origin": "scheduled" })
    );
    respond(send, 200, &call.body);
    let summary = status_patch(&mut h, &cluster(None)).await;
    assert_eq!(summary["nextAt"], "2026-11-26T02:00:00Z");
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(false, "BackupScheduled")]);

    // 02:30, the backup listed and the status up to date: nothing to do.
    let current = json!({ "nextAt": "2026-11-26T02:00:00Z" });
    // (What the API server stores of the patch above.)
    let vc: VectorCluster = serde_json::from_value(cluster(Some(current))).unwrap();
    let task = {
        let ctx = h.ctx.clone();
        tokio::spawn(async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T02:30:00Z")).await })
    };
    list_call(
        &mut h,
        vec![backup_object(
            "search-20261125-0200",
            "2026-11-25T02:00:30Z",
            Some("Running"),
            json!({}),
        )],
    )
    .await;
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
}

#[tokio::test]
async fn retention_deletes_the_oldest_and_the_status_shows_the_last_success_and_failure() {
    let mut h = Harness::new();
    let vc: VectorCluster = serde_json::from_value(cluster(None)).unwrap();
    // Eight good nightly backups, Nov 17 to 24, then a failure on Nov 25.
    let mut items: Vec<Value> = (17..=24)
        .map(|day| {
            backup_object(
                &format!("search-202611{day}-0200"),
                &format!("2026-11-{day}T02:00:05Z"),
                Some("Succeeded"),
                json!({ "finishedAt": format!("2026-11-{day}T02:10:00Z") }),
            )
        })
        .collect();
    items.push(backup_object(
        "search-20261125-0200",
        "2026-11-25T02:00:05Z",
        Some("Failed"),
        json!({ "finishedAt": "2026-11-25T02:03:00Z", "message": "Job has reached the specified backoff limit" }),
    ));

    let task = tokio::spawn({
        let ctx = h.ctx.clone();
        async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T03:00:00Z")).await }
    });
    list_call(&mut h, items).await;
    // At most seven, none older than seven days: the two oldest go.
    for day in [17, 18] {
        let (_, send) = h
            .server
            .expect("DELETE", &format!("{BACKUPS}/search-202611{day}-0200"))
            .await;
        respond(
            send,
            200,
            &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" }),
        );
    }
    let summary = status_patch(&mut h, &cluster(None)).await;
    assert_eq!(
        summary,
        json!({
            "lastSuccess": "search-20261124-0200",
            "lastSuccessAt": "2026-11-24T02:10:00Z",
            "lastFailure": "search-20261125-0200",
            "lastFailureMessage": "Job has reached the specified backoff limit",
            "nextAt": "2026-11-26T02:00:00Z",
            "verifying": null
        })
    );
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
}

fn backup_cr(status: Option<&str>) -> VectorClusterBackup {
    let object = backup_object(
        "search-20261125-0200",
        "2026-11-25T02:00:05Z",
        status,
        json!({}),
    );
    serde_json::from_value(object).unwrap()
}

fn job(condition: Value, extra: Value) -> Value {
    let mut status = json!({ "conditions": [condition] });
    if let (Some(s), Some(extra)) = (status.as_object_mut(), extra.as_object()) {
        s.extend(extra.clone());
    }
    json!({ "apiVersion": "batch/v1", "kind": "Job",
            "metadata": { "name": "search-20261125-0200", "namespace": "org-acme" },
            "spec": { "template": { "spec": { "containers": [] } } },
            "status": status })
}

async fn runner_pass(
    h: &mut Harness,
    b: VectorClusterBackup,
    now: &str,
) -> tokio::task::JoinHandle<()> {
    let ctx = h.ctx.clone();
    let now = t(now);
    tokio::spawn(async move {
        backup::run_at(&b, &ctx, now).await.unwrap();
    })
}

async fn backup_status_patch(h: &mut Harness) -> Value {
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{BACKUPS}/search-20261125-0200/status"))
        .await;
    respond(send, 200, &serde_json::to_value(backup_cr(None)).unwrap());
    call.body["status"].clone()
}

#[tokio::test]
async fn a_backup_runs_as_a_job_and_reports_how_it_went() {
    let mut h = Harness::new();
    let job_path = format!("{JOBS}/search-20261125-0200");

    // New: the Job is made, owned by the backup, for each of the 2 nodes.
    let task = runner_pass(&mut h, backup_cr(None), "2026-11-25T02:00:06Z").await;
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(send, 404, &not_found());
    let (_, send) = h.server.expect("GET", CLUSTER).await;
    respond(send, 200, &cluster(None));
    let (call, send) = h.server.expect("PATCH", &job_path).await;
    let args: Vec<&str> = call.body["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(
        args[..5],
        [
            "backup",
            "--cluster",
            "org-acme/search",
            "--backup",
            "search-20261125-0200"
        ]
    );
    assert!(args.ends_with(&[
        "--version",
        "1.13.6",
        "--node",
        "http://search-0.search-peers.org-acme.svc:6333",
        "--node",
        "http://search-1.search-peers.org-acme.svc:6333",
    ]));
    assert_eq!(
        call.body["metadata"]["ownerReferences"][0]["kind"],
        "VectorClusterBackup"
    );
    assert_eq!(
        call.body["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/quartermaster/operator:test"
    );
    respond(send, 200, &call.body);
    let status = backup_status_patch(&mut h).await;
    assert_eq!(
        status,
        json!({ "phase": "Running", "job": "search-20261125-0200", "startedAt": "2026-11-25T02:00:06Z",
                "finishedAt": null, "message": null })
    );
    task.await.unwrap();
    h.server.expect_nothing().await;

    // The Job completes: Succeeded, with its completion time.
    let task = runner_pass(&mut h, backup_cr(Some("Running")), "2026-11-25T02:12:00Z").await;
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(
        send,
        200,
        &job(
            json!({ "type": "Complete", "status": "True", "lastTransitionTime": "2026-11-25T02:10:00Z" }),
            json!({ "completionTime": "2026-11-25T02:10:00Z", "succeeded": 1 }),
        ),
    );
    let status = backup_status_patch(&mut h).await;
    assert_eq!(
        (status["phase"].clone(), status["finishedAt"].clone()),
        (json!("Succeeded"), json!("2026-11-25T02:10:00Z"))
    );
    task.await.unwrap();
    assert_eq!(h.events.take(), [(false, "BackupSucceeded")]);

    // Or it fails: Failed, with Kubernetes' reason, and a warning event.
    let task = runner_pass(&mut h, backup_cr(Some("Running")), "2026-11-25T02:12:00Z").await;
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(
        send,
        200,
        &job(
            json!({ "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                    "lastTransitionTime": "2026-11-25T02:11:00Z" }),
            json!({ "failed": 3 }),
        ),
    );
    let status = backup_status_patch(&mut h).await;
    assert_eq!(status["phase"], "Failed");
    assert_eq!(
        status["message"],
        "Job has reached the specified backoff limit"
    );
    task.await.unwrap();
    assert_eq!(h.events.take(), [(true, "BackupFailed")]);

    // A finished backup is left alone.
    let task = runner_pass(&mut h, backup_cr(Some("Succeeded")), "2026-11-25T03:00:00Z").await;
    task.await.unwrap();
    h.server.expect_nothing().await;

    // A backup of a cluster that is gone fails at once.
    let task = runner_pass(&mut h, backup_cr(None), "2026-11-25T02:00:06Z").await;
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(send, 404, &not_found());
    let (_, send) = h.server.expect("GET", CLUSTER).await;
    respond(send, 404, &not_found());
    let status = backup_status_patch(&mut h).await;
    assert_eq!(status["message"], "cluster search does not exist");
    task.await.unwrap();
}

const RESTORES: &str = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusterrestores";

async fn restore_status_patch(h: &mut Harness) -> Value {
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{RESTORES}/search-copy-from-b1/status"))
        .await;
    respond(send, 200, &serde_json::to_value(restore_cr()).unwrap());
    call.body["status"].clone()
}

fn restore_cr() -> operator::crd::backup::VectorClusterRestore {
    serde_json::from_value(json!({
        "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterRestore",
        "metadata": { "name": "search-copy-from-b1", "namespace": "org-acme", "uid": "r-1" },
        "spec": { "backup": "search-20261125-0200", "target": "search-copy" }
    }))
    .unwrap()
}

#[tokio::test]
async fn a_restore_waits_for_its_target_and_loads_only_a_complete_backup() {
    let mut h = Harness::new();
    let job_path = format!("{JOBS}/search-copy-from-b1");
    let target = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusters/search-copy";
    let spawn = |h: &Harness| {
        let ctx = h.ctx.clone();
        tokio::spawn(async move {
            backup::restore_at(&restore_cr(), &ctx, t("2026-11-26T09:00:00Z"))
                .await
                .unwrap();
        })
    };
    let succeeded = backup_object(
        "search-20261125-0200",
        "2026-11-25T02:00:05Z",
        Some("Succeeded"),
        json!({ "finishedAt": "2026-11-25T02:10:00Z" }),
    );

    // The target is not there yet: the restore waits.
    let task = spawn(&h);
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(send, 404, &not_found());
    let (_, send) = h
        .server
        .expect("GET", &format!("{BACKUPS}/search-20261125-0200"))
        .await;
    respond(send, 200, &succeeded);
    let (_, send) = h.server.expect("GET", target).await;
    respond(send, 404, &not_found());
    let status = restore_status_patch(&mut h).await;
    assert_eq!(
        (status["phase"].clone(), status["message"].clone()),
        (
            json!("Pending"),
            json!("waiting for cluster search-copy to be Ready")
        )
    );
    task.await.unwrap();

    // The target exists and is Ready: a restore Job for its 2 nodes.
    let task = spawn(&h);
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(send, 404, &not_found());
    let (_, send) = h
        .server
        .expect("GET", &format!("{BACKUPS}/search-20261125-0200"))
        .await;
    respond(send, 200, &succeeded);
    let (_, send) = h.server.expect("GET", target).await;
    let mut copy = cluster(Some(json!({})));
    copy["metadata"]["name"] = json!("search-copy");
    respond(send, 200, &copy);
    let (call, send) = h.server.expect("PATCH", &job_path).await;
    let args = call.body["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    assert_eq!(args[0], "restore");
    assert_eq!(args[2], "org-acme/search-copy");
    assert_eq!(args[4], "search-20261125-0200");
    assert_eq!(
        args.as_array().unwrap().last().unwrap(),
        "http://search-copy-1.search-copy-peers.org-acme.svc:6333"
    );
    respond(send, 200, &call.body);
    assert_eq!(restore_status_patch(&mut h).await["phase"], "Running");
    task.await.unwrap();
    h.server.expect_nothing().await;

    // A failed backup is never restored from.
    let task = spawn(&h);
    let (_, send) = h.server.expect("GET", &job_path).await;
    respond(send, 404, &not_found());
    let (_, send) = h
        .server
        .expect("GET", &format!("{BACKUPS}/search-20261125-0200"))
        .await;
    respond(
        send,
        200,
        &backup_object(
            "search-20261125-0200",
            "2026-11-25T02:00:05Z",
            Some("Failed"),
            json!({}),
        ),
    );
    let status = restore_status_patch(&mut h).await;
    assert_eq!(status["phase"], "Failed");
    assert_eq!(
        status["message"],
        "backup search-20261125-0200 has not succeeded (it is Failed); only a complete backup is restored"
    );
    task.await.unwrap();
    assert_eq!(h.events.take(), [(true, "RestoreFailed")]);
}

#[tokio::test]
async fn deleting_a_backup_deletes_its_objects_first() {
    use crate::moto::{BUCKET, Moto};
    use std::sync::Arc;

    let moto = Moto::start().await;
    let store = moto.store();
    for key in [
        "org-acme/search-20261125-0200/manifest.json",
        "org-acme/search-20261125-0200/node-0/docs.snapshot",
        "org-acme/search-20261124-0200/manifest.json",
    ] {
        store.put(key, b"bytes".to_vec()).await.unwrap();
    }
    let mut h = Harness::new();
    let mut object = backup_object(
        "search-20261125-0200",
        "2026-11-25T02:00:05Z",
        Some("Succeeded"),
        json!({}),
    );
    object["metadata"]["deletionTimestamp"] = json!("2026-11-26T00:00:00Z");
    object["metadata"]["finalizers"] = json!([backup::BACKUP_FINALIZER]);
    object["spec"]["destination"]["endpoint"] = json!(moto.endpoint);
    object["spec"]["destination"]["bucket"] = json!(BUCKET);
    let deleted: VectorClusterBackup = serde_json::from_value(object.clone()).unwrap();

    let task = tokio::spawn(backup::run(Arc::new(deleted), h.ctx.clone()));
    let (_, send) = h
        .server
        .expect(
            "GET",
            "/api/v1/namespaces/org-acme/secrets/backup-credentials",
        )
        .await;
    respond(
        send,
        200,
        &json!({ "apiVersion": "v1", "kind": "Secret",
                 "metadata": { "name": "backup-credentials", "namespace": "org-acme" },
                 // base64 of "test"
                 "data": { "AWS_ACCESS_KEY_ID": "dGVzdA==", "AWS_SECRET_ACCESS_KEY": "dGVzdA==" } }),
    );
    // Then, and only then, the finalizer goes.
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{BACKUPS}/search-20261125-0200"))
        .await;
    assert_eq!(call.content_type, "application/json-patch+json");
    assert!(call.body.to_string().contains("remove"), "{}", call.body);
    respond(send, 200, &object);
    task.await.unwrap().unwrap();

    let gone = |key: &'static str| {
        let store = store.clone();
        async move { store.get(key).await.unwrap().is_none() }
    };
    assert!(gone("org-acme/search-20261125-0200/manifest.json").await);
    assert!(gone("org-acme/search-20261125-0200/node-0/docs.snapshot").await);
    assert!(
        !gone("org-acme/search-20261124-0200/manifest.json").await,
        "other backups stay"
    );
}

const CLUSTERS: &str = "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusters";

/// A cluster whose policy verifies its backups, with `backups` as its
/// status's summary.
fn verified_cluster(backups: Value) -> VectorCluster {
    let mut vc = cluster(Some(backups));
    vc["spec"]["backup"]["verify"] = json!(true);
    serde_json::from_value(vc).unwrap()
}

#[tokio::test]
async fn a_verified_backup_is_restored_into_an_unbilled_throwaway_cluster_and_records_last_verified()
 {
    use operator::reconcile::verify;
    let mut h = Harness::new();
    let throwaway = verify::throwaway_name("search");
    let good = backup_object(
        "search-20261125-0200",
        "2026-11-25T02:00:05Z",
        Some("Succeeded"),
        json!({ "finishedAt": "2026-11-25T02:10:00Z" }),
    );

    // 03:00: the new success is restored into a throwaway one-node cluster.
    let vc = verified_cluster(json!({ "nextAt": "2026-11-26T02:00:00Z" }));
    let task = tokio::spawn({
        let (vc, ctx) = (vc.clone(), h.ctx.clone());
        async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T03:00:00Z")).await }
    });
    list_call(&mut h, vec![good.clone()]).await;
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{CLUSTERS}/{throwaway}"))
        .await;
    let made = call.body.clone();
    respond(send, 200, &made);
    assert_eq!(made["spec"]["nodes"], 1);
    assert_eq!(
        made["spec"]["resources"]["storageGib"], 20,
        "room for both nodes' data"
    );
    assert_eq!(made["spec"]["version"], "1.13.6");
    assert_eq!(
        made["spec"].get("backup"),
        None,
        "a throwaway is not backed up"
    );
    // Not billed: the usage collector reports only clusters labelled with
    // the control plane's organization and id.
    assert_eq!(
        made["metadata"]["labels"],
        json!({ "quartermaster.dev/verifies": "search" })
    );
    assert_eq!(made["metadata"]["ownerReferences"][0]["name"], "search");
    let (call, send) = h
        .server
        .expect("PATCH", &format!("{RESTORES}/{throwaway}"))
        .await;
    assert_eq!(
        call.body["spec"],
        json!({ "backup": "search-20261125-0200", "target": throwaway })
    );
    respond(send, 200, &call.body);
    let summary = status_patch(&mut h, &cluster(None)).await;
    assert_eq!(summary["verifying"], "search-20261125-0200");
    assert_eq!(summary.get("lastVerified"), None);
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(false, "BackupVerifying")]);

    // 03:20: the restore proved every count; the result is recorded, then
    // the throwaway cluster goes.
    let vc = verified_cluster(
        json!({ "nextAt": "2026-11-26T02:00:00Z", "verifying": "search-20261125-0200" }),
    );
    let task = tokio::spawn({
        let (vc, ctx) = (vc.clone(), h.ctx.clone());
        async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T03:20:00Z")).await }
    });
    list_call(&mut h, vec![good.clone()]).await;
    let (_, send) = h
        .server
        .expect("GET", &format!("{RESTORES}/{throwaway}"))
        .await;
    respond(
        send,
        200,
        &json!({
            "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterRestore",
            "metadata": { "name": throwaway, "namespace": "org-acme", "uid": "r-1",
                          "creationTimestamp": "2026-11-25T03:00:01Z" },
            "spec": { "backup": "search-20261125-0200", "target": throwaway },
            "status": { "phase": "Succeeded", "job": throwaway, "finishedAt": "2026-11-25T03:18:00Z" }
        }),
    );
    let summary = status_patch(&mut h, &cluster(None)).await;
    assert_eq!(summary["verifying"], json!(null));
    assert_eq!(
        summary["lastVerified"],
        json!({ "backup": "search-20261125-0200", "finishedAt": "2026-11-25T03:20:00Z",
                "succeeded": true,
                "message": "every collection came back with the points the backup counted" })
    );
    for path in [RESTORES, CLUSTERS] {
        let (_, send) = h
            .server
            .expect("DELETE", &format!("{path}/{throwaway}"))
            .await;
        respond(
            send,
            200,
            &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success" }),
        );
    }
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
    assert_eq!(h.events.take(), [(false, "BackupVerified")]);

    // 04:00: that backup is verified; nothing more until the next one.
    let vc = verified_cluster(json!({
        "lastSuccess": "search-20261125-0200", "lastSuccessAt": "2026-11-25T02:10:00Z",
        "nextAt": "2026-11-26T02:00:00Z",
        "lastVerified": summary["lastVerified"] }));
    let task = tokio::spawn({
        let ctx = h.ctx.clone();
        async move { backup::schedule_at(&vc, &ctx, t("2026-11-25T04:00:00Z")).await }
    });
    list_call(&mut h, vec![good]).await;
    task.await.unwrap().unwrap();
    h.server.expect_nothing().await;
}
