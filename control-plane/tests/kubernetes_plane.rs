//! The Kubernetes data plane against a mocked API server: every request
//! the provisioner makes, in order, with its field manager and body.

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::time::Duration;

use control_plane::provisioner::KubernetesPlane;
use crds::vector_cluster::{FINALIZER, NodeResources};
use crds::{EngineVersion, VectorCluster, VectorClusterSpec};
use http::{Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};
use uuid::Uuid;

type Server = Handle<Request<Body>, Response<Body>>;

async fn expect(
    server: &mut Server,
    method: &str,
    path: &str,
) -> (String, Value, SendResponse<Response<Body>>) {
    let (request, send) = tokio::time::timeout(Duration::from_secs(1), server.next_request())
        .await
        .unwrap_or_else(|_| panic!("no request within 1 s; expected {method} {path}"))
        .expect("client gone");
    assert_eq!(
        (request.method().as_str(), request.uri().path()),
        (method, path)
    );
    let query = request.uri().query().unwrap_or_default().to_owned();
    let bytes = request.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (query, body, send)
}

fn respond(send: SendResponse<Response<Body>>, status: u16, body: &Value) {
    send.send_response(
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap(),
    );
}

fn organization() -> Uuid {
    Uuid::parse_str("0190f0f0-0000-7000-8000-0000000000aa").unwrap()
}

fn cluster_id() -> Uuid {
    Uuid::parse_str("0190f0f0-0000-7000-8000-00000000000c").unwrap()
}

/// Applies the `search` cluster through `plane`, in the background.
fn apply_search(plane: KubernetesPlane) -> tokio::task::JoinHandle<Result<(), kube::Error>> {
    tokio::spawn(async move {
        let mut cluster = VectorCluster::new("search", spec());
        cluster.metadata.finalizers = Some(vec![FINALIZER.to_owned()]);
        plane
            .apply_tenant(organization(), cluster_id(), cluster)
            .await
    })
}

const NS: &str = "qm-0190f0f00000700080000000000000aa";

fn spec() -> VectorClusterSpec {
    VectorClusterSpec::new(
        EngineVersion::new(1, 13, 6),
        3,
        2,
        NodeResources {
            cpu_millicores: 1000,
            memory_mib: 2048,
            storage_gib: 10,
        },
    )
}

#[tokio::test]
async fn applying_a_cluster_prepares_the_tenant_namespace_then_applies_the_resource() {
    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let plane = KubernetesPlane::new(kube::Client::new(service, "default"));
    let task = apply_search(plane);

    let steps = [
        ("/api/v1/namespaces/".to_owned() + NS, "Namespace"),
        (
            format!("/api/v1/namespaces/{NS}/resourcequotas/quartermaster"),
            "ResourceQuota",
        ),
        (
            format!("/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/default-deny"),
            "NetworkPolicy",
        ),
        (
            format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusters/search"),
            "VectorCluster",
        ),
    ];
    let mut bodies = Vec::new();
    for (path, kind) in &steps {
        let (query, body, send) = expect(&mut server, "PATCH", path).await;
        assert!(
            query.contains("fieldManager=quartermaster&")
                || query.ends_with("fieldManager=quartermaster"),
            "{query}"
        );
        assert!(query.contains("force=true"));
        assert_eq!(body["kind"], *kind);
        assert_eq!(
            body["metadata"]["labels"]["quartermaster.dev/organization"],
            "0190f0f0-0000-7000-8000-0000000000aa"
        );
        respond(send, 200, &body);
        bodies.push(body);
    }
    task.await.unwrap().unwrap();

    assert_eq!(bodies[1]["spec"]["hard"]["services.loadbalancers"], "0");
    assert_eq!(
        bodies[2]["spec"],
        json!({ "podSelector": {}, "policyTypes": ["Ingress"] }),
        "deny all ingress by default"
    );
    let cluster = &bodies[3];
    assert_eq!(
        cluster["metadata"]["labels"]["quartermaster.dev/id"],
        "0190f0f0-0000-7000-8000-00000000000c"
    );
    assert_eq!(
        cluster["metadata"]["finalizers"],
        json!([FINALIZER]),
        "the operator's finalizer is applied with the cluster"
    );
    assert_eq!(cluster["spec"]["version"], "1.13.6");
    assert_eq!(cluster["spec"]["nodes"], 3);
    assert_eq!(cluster["spec"]["replicationFactor"], 2);
    let more = tokio::time::timeout(Duration::from_millis(100), server.next_request()).await;
    assert!(!matches!(more, Ok(Some(_))), "no further request");
}

#[tokio::test]
async fn status_is_mirrored_once_the_operator_has_caught_up() {
    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let plane = KubernetesPlane::new(kube::Client::new(service, "default"));
    let path = format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusters/search");
    let resource = |observed: i64| {
        json!({
            "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorCluster",
            "metadata": { "name": "search", "namespace": NS, "generation": 5 },
            "spec": serde_json::to_value(spec()).unwrap(),
            "status": { "observedGeneration": observed, "phase": "Updating", "readyNodes": 2,
                        "currentVersion": "1.13.6", "endpoint": "http://search.x.svc:6333", "conditions": [],
                        "placement": { "collections": [{ "name": "docs", "points": 5, "pointBytes": 16,
                                                          "shards": [{ "id": 0, "nodes": [0, 1] }] }] },
                        "backups": { "lastVerified": { "backup": "search-20261125-0200",
                                                       "finishedAt": "2026-11-25T03:20:00Z",
                                                       "succeeded": true } } },
        })
    };

    let behind = {
        let plane = plane.clone();
        tokio::spawn(async move { plane.observe(organization(), "search", 2, 1).await })
    };
    let (_, _, send) = expect(&mut server, "GET", &path).await;
    respond(send, 200, &resource(4));
    let observed = behind.await.unwrap().unwrap().unwrap();
    assert_eq!(
        observed.observed_generation, 1,
        "the operator has not acted on generation 2 yet"
    );
    assert_eq!(observed.phase.as_str(), "Updating");
    assert_eq!(observed.ready_nodes, 2);

    let current = tokio::spawn(async move { plane.observe(organization(), "search", 2, 1).await });
    let (_, _, send) = expect(&mut server, "GET", &path).await;
    respond(send, 200, &resource(5));
    let observed = current.await.unwrap().unwrap().unwrap();
    assert_eq!(observed.observed_generation, 2);
    assert_eq!(
        observed.endpoint.as_deref(),
        Some("http://search.x.svc:6333")
    );
    let placement = observed.placement.expect("the placement is carried");
    assert_eq!(placement.collections[0].shards[0].nodes, [0, 1]);
    assert_eq!(placement.collections[0].point_bytes, 16);
    let verified = observed
        .last_verified
        .expect("the last test restore is carried");
    assert_eq!(verified.backup, "search-20261125-0200");
    assert!(verified.succeeded);
}

#[tokio::test]
async fn delete_asks_once_and_reports_gone_when_the_finalizer_is_done() {
    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let plane = KubernetesPlane::new(kube::Client::new(service, "default"));
    let path = format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusters/search");
    let existing = json!({
        "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorCluster",
        "metadata": { "name": "search", "namespace": NS },
        "spec": serde_json::to_value(spec()).unwrap(),
    });

    let first = {
        let plane = plane.clone();
        tokio::spawn(async move {
            plane
                .delete::<crds::VectorCluster>(organization(), "search")
                .await
        })
    };
    let (_, _, send) = expect(&mut server, "GET", &path).await;
    respond(send, 200, &existing);
    let (_, _, send) = expect(&mut server, "DELETE", &path).await;
    respond(send, 200, &existing);
    assert!(
        !first.await.unwrap().unwrap(),
        "not gone while the finalizer runs"
    );

    let second = tokio::spawn(async move {
        plane
            .delete::<crds::VectorCluster>(organization(), "search")
            .await
    });
    let (_, _, send) = expect(&mut server, "GET", &path).await;
    respond(
        send,
        404,
        &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "reason": "NotFound", "code": 404, "message": "gone" }),
    );
    assert!(second.await.unwrap().unwrap());
}

#[tokio::test]
async fn an_endpoint_is_applied_with_its_wake_request_as_an_annotation() {
    use crds::inference_endpoint::{
        EndpointResources, EngineKind, GpuRequest, HubModel, InferenceEndpointSpec, Replicas,
    };
    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let plane = KubernetesPlane::new(kube::Client::new(service, "default"));
    let org = organization();
    let id = Uuid::now_v7();
    let spec = InferenceEndpointSpec {
        model: Some(HubModel {
            repository: "org/model".into(),
            revision: "v1".into(),
        }),
        image: None,
        engine: EngineKind::Vllm,
        gpu: GpuRequest {
            model: "nvidia-l4".into(),
            count: 1,
        },
        replicas: Replicas {
            min: 0,
            max: 2,
            scale_to_zero_after_seconds: Some(600),
        },
        target_concurrency: 8,
        resources: EndpointResources {
            cpu_millicores: 4000,
            memory_mib: 16384,
            shm_mib: 8192,
        },
        env: vec![],
        suspend: false,
    };
    let wake: chrono::DateTime<chrono::Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
    let task = tokio::spawn(async move {
        plane
            .apply_endpoint(org, id, "chat", spec, Some(wake))
            .await
    });
    for path in [
        format!("/api/v1/namespaces/{NS}"),
        format!("/api/v1/namespaces/{NS}/resourcequotas/quartermaster"),
        format!("/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/default-deny"),
    ] {
        let (_, body, send) = expect(&mut server, "PATCH", &path).await;
        respond(send, 200, &body);
    }
    let path = format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/inferenceendpoints/chat");
    let (query, body, send) = expect(&mut server, "PATCH", &path).await;
    assert!(query.contains("fieldManager=quartermaster"));
    assert_eq!(body["kind"], "InferenceEndpoint");
    assert_eq!(
        body["metadata"]["annotations"]["quartermaster.dev/wake-requested-at"],
        "2026-11-25T12:00:00+00:00"
    );
    assert_eq!(
        body["metadata"]["labels"]["quartermaster.dev/id"],
        id.to_string()
    );
    assert_eq!(
        body["spec"]["gpu"],
        json!({ "model": "nvidia-l4", "count": 1 })
    );
    respond(send, 200, &body);
    task.await.unwrap().unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn backups_the_operator_takes_show_in_the_control_plane_until_retention_removes_them(
    pool: sqlx::PgPool,
) {
    let (org, plane) = acme_on_a_plane(&pool).await;
    let cluster = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec,
             applied_generation, phase)
         VALUES ($1, $2, $3, 'search', $4, 1, 'Ready')",
    )
    .bind(cluster)
    .bind(org)
    .bind(plane)
    .bind(json!({
        "version": "1.13.6", "nodes": 1, "replicationFactor": 1,
        "resources": { "cpuMillicores": 1000, "memoryMib": 2048, "storageGib": 10 },
        "backup": { "schedule": "0 2 * * *", "retention": { "count": 7, "maxAgeDays": 7 },
                    "destination": { "bucket": "backups", "endpoint": "http://s3.invalid",
                                     "credentialsSecret": "quartermaster-backup-credentials" } },
    }))
    .execute(&pool)
    .await
    .unwrap();
    // A backup taken by hand is the control plane's own: left alone.
    sqlx::query(
        "INSERT INTO cluster_backups (id, organization_id, cluster_id, name, origin, phase)
         VALUES ($1, $2, $3, 'search-manual', 'manual', 'Succeeded')",
    )
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(cluster)
    .execute(&pool)
    .await
    .unwrap();

    // The organization listens for how backups end and for degradation.
    listen(
        &pool,
        org,
        &["backup.succeeded", "backup.failed", "cluster.degraded"],
    )
    .await;
    let told = || async {
        sqlx::query_scalar::<_, String>("SELECT type FROM webhook_events ORDER BY created_at, id")
            .fetch_all(&pool)
            .await
            .unwrap()
    };

    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let provisioner =
        control_plane::provisioner::Provisioner::new(pool.clone(), chrono::Duration::seconds(3))
            .with_client(plane, kube::Client::new(service, "default"))
            .await;
    let item = |name: &str, origin: &str, status: Value| {
        json!({ "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterBackup",
                "metadata": { "name": name, "namespace": NS, "creationTimestamp": "2026-11-25T02:00:01Z",
                              "labels": { "quartermaster.dev/cluster": "search", "quartermaster.dev/origin": origin } },
                "spec": { "cluster": "search", "destination": { "bucket": "b", "endpoint": "http://s3", "credentialsSecret": "c" } },
                "status": status })
    };
    let nightly = item(
        "search-20261125-0200",
        "scheduled",
        json!({ "phase": "Succeeded", "finishedAt": "2026-11-25T02:10:00Z" }),
    );
    let before_upgrade = item(
        "search-pre-1-14-0",
        "pre-upgrade",
        json!({ "phase": "Running" }),
    );
    let list = |items: Vec<Value>| json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": items });

    let rows = || async {
        sqlx::query_as::<_, (String, String, String, bool)>(
            "SELECT name, origin, phase, finished_at IS NOT NULL FROM cluster_backups ORDER BY name",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };

    let t0 = chrono::Utc::now();
    serve_pass(
        &provisioner,
        &mut server,
        t0,
        list(vec![nightly, before_upgrade.clone()]),
    )
    .await;
    let row = |n: &str, o: &str, p: &str, f: bool| (n.to_owned(), o.to_owned(), p.to_owned(), f);
    assert_eq!(
        rows().await,
        [
            row("search-20261125-0200", "scheduled", "Succeeded", true),
            row("search-manual", "manual", "Succeeded", false),
            row("search-pre-1-14-0", "pre-upgrade", "Running", false),
        ]
    );

    // Retention removed the nightly backup in the data plane: gone here too.
    serve_pass(
        &provisioner,
        &mut server,
        t0 + chrono::Duration::seconds(61),
        list(vec![before_upgrade]),
    )
    .await;
    let names: Vec<String> = rows().await.into_iter().map(|r| r.0).collect();
    assert_eq!(names, ["search-manual", "search-pre-1-14-0"]);
    assert_eq!(told().await, ["backup.succeeded"], "the nightly one, once");

    // The backup before the upgrade fails, and the cluster degrades: each
    // told once, however often the same status is read.
    let failed = item(
        "search-pre-1-14-0",
        "pre-upgrade",
        json!({ "phase": "Failed", "message": "the snapshot upload was refused" }),
    );
    let degraded =
        json!({ "observedGeneration": 1, "phase": "Degraded", "readyNodes": 0, "conditions": [] });
    for pass in [2, 3] {
        serve_pass_with(
            &provisioner,
            &mut server,
            t0 + chrono::Duration::seconds(61 * pass),
            list(vec![failed.clone()]),
            Some(degraded.clone()),
        )
        .await;
    }
    let mut events = told().await;
    events.sort();
    assert_eq!(
        events,
        ["backup.failed", "backup.succeeded", "cluster.degraded"]
    );
    let body: String =
        sqlx::query_scalar("SELECT body FROM webhook_events WHERE type = 'backup.failed'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["data"]["object"]["message"],
        "the snapshot upload was refused"
    );
}

/// The organization of these tests, and a Kubernetes data plane registered
/// before data planes connected (pushed to through a kubeconfig until it is
/// switched; its client is given to the provisioner by each test).
async fn acme_on_a_plane(pool: &sqlx::PgPool) -> (Uuid, Uuid) {
    let org = Uuid::parse_str("0190f0f0-0000-7000-8000-0000000000aa").unwrap();
    sqlx::query("INSERT INTO organizations (id, name) VALUES ($1, 'acme')")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    let plane = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO data_planes (id, name, region, kind, kubeconfig)
         VALUES ($1, 'eu-1', 'eu-west', 'kubernetes', 'not used')",
    )
    .bind(plane)
    .execute(pool)
    .await
    .unwrap();
    (org, plane)
}

/// Subscribes an endpoint of `org` to `types`: their events are then kept.
async fn listen(pool: &sqlx::PgPool, org: Uuid, types: &[&str]) {
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, organization_id, url, event_types, secret)
         VALUES ($1, $2, 'https://hooks.example.com/', $3, 'whsec_test')",
    )
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(types)
    .execute(pool)
    .await
    .unwrap();
}

/// One provisioner pass over the cluster: its backups listed (answered with
/// `listed`), then its resource read (not there yet).
async fn serve_pass(
    provisioner: &control_plane::provisioner::Provisioner,
    server: &mut Server,
    at: chrono::DateTime<chrono::Utc>,
    listed: Value,
) {
    serve_pass_with(provisioner, server, at, listed, None).await;
}

/// As [`serve_pass`], the resource answered with `status` when there is one.
async fn serve_pass_with(
    provisioner: &control_plane::provisioner::Provisioner,
    server: &mut Server,
    at: chrono::DateTime<chrono::Utc>,
    listed: Value,
    status: Option<Value>,
) {
    let serve = async {
        let backups =
            format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusterbackups");
        let (query, _, send) = expect(server, "GET", &backups).await;
        assert!(
            query.contains("labelSelector=quartermaster.dev%2Fcluster%3Dsearch"),
            "{query}"
        );
        respond(send, 200, &listed);
        let path =
            format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusters/search");
        let (_, _, send) = expect(server, "GET", &path).await;
        match status {
            Some(status) => respond(
                send,
                200,
                &json!({
                    "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorCluster",
                    "metadata": { "name": "search", "namespace": NS, "generation": 1 },
                    "spec": serde_json::to_value(spec()).unwrap(),
                    "status": status,
                }),
            ),
            None => respond(
                send,
                404,
                &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {},
                         "status": "Failure", "reason": "NotFound", "code": 404 }),
            ),
        }
    };
    let (handled, ()) = tokio::join!(provisioner.run_once_at(at), serve);
    handled.unwrap();
}

#[tokio::test]
async fn a_plane_with_backup_storage_gives_each_tenant_namespace_its_key() {
    use control_plane::provisioner::kubernetes::{BACKUP_CREDENTIALS_SECRET, BackupCredentials};

    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let credentials = BackupCredentials {
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "s3cr3t".into(),
    };
    assert_eq!(format!("{credentials:?}"), "BackupCredentials(<redacted>)");
    let plane = KubernetesPlane::new(kube::Client::new(service, "default"))
        .with_backup_credentials(Some(credentials));
    let task = apply_search(plane);
    for path in [
        format!("/api/v1/namespaces/{NS}"),
        format!("/api/v1/namespaces/{NS}/resourcequotas/quartermaster"),
        format!("/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies/default-deny"),
    ] {
        let (_, body, send) = expect(&mut server, "PATCH", &path).await;
        respond(send, 200, &body);
    }
    let (query, secret, send) = expect(
        &mut server,
        "PATCH",
        &format!("/api/v1/namespaces/{NS}/secrets/{BACKUP_CREDENTIALS_SECRET}"),
    )
    .await;
    assert!(query.contains("fieldManager=quartermaster"), "{query}");
    assert_eq!(
        secret["stringData"],
        json!({ "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s3cr3t" })
    );
    respond(send, 200, &secret);
    let (_, body, send) = expect(
        &mut server,
        "PATCH",
        &format!("/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusters/search"),
    )
    .await;
    respond(send, 200, &body);
    task.await.unwrap().unwrap();
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_clusters_maintenance_window_goes_from_its_row_into_the_applied_resource(
    pool: sqlx::PgPool,
) {
    let (org, plane) = acme_on_a_plane(&pool).await;
    sqlx::query(
        "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec, generation,
             applied_generation, phase)
         VALUES ($1, $2, $3, 'search', $4, 2, 1, 'Ready')",
    )
    .bind(Uuid::now_v7())
    .bind(org)
    .bind(plane)
    .bind(json!({
        "version": "1.13.6", "nodes": 3, "replicationFactor": 2,
        "resources": { "cpuMillicores": 1000, "memoryMib": 2048, "storageGib": 10 },
        "maintenanceWindow": { "day": "sun", "startHour": 22, "durationHours": 4 },
    }))
    .execute(&pool)
    .await
    .unwrap();
    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let provisioner =
        control_plane::provisioner::Provisioner::new(pool.clone(), chrono::Duration::seconds(3))
            .with_client(plane, kube::Client::new(service, "default"))
            .await;

    // Answer every call of the pass; keep what was applied as a VectorCluster.
    let serve = async {
        let mut applied = None;
        while let Ok(Some((request, send))) =
            tokio::time::timeout(Duration::from_secs(1), server.next_request()).await
        {
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let bytes = request.into_body().collect_bytes().await.unwrap();
            if method == "PATCH" {
                let body: Value = serde_json::from_slice(&bytes).unwrap();
                if body["kind"] == "VectorCluster" {
                    applied = Some(body.clone());
                }
                respond(send, 200, &body);
            } else if path.ends_with("/vectorclusterbackups") {
                respond(
                    send,
                    200,
                    &json!({ "apiVersion": "v1", "kind": "List", "metadata": {}, "items": [] }),
                );
            } else {
                respond(
                    send,
                    404,
                    &json!({ "kind": "Status", "apiVersion": "v1", "metadata": {},
                                            "status": "Failure", "reason": "NotFound", "code": 404 }),
                );
            }
        }
        applied
    };
    let (handled, applied) = tokio::join!(provisioner.run_once_at(chrono::Utc::now()), serve);

    handled.unwrap();
    let applied = applied.expect("the cluster was applied");
    assert_eq!(
        applied["spec"]["maintenanceWindow"],
        json!({ "day": "sun", "startHour": 22, "durationHours": 4 })
    );
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_restore_the_data_plane_reports_failed_is_told_once(pool: sqlx::PgPool) {
    let (org, plane) = acme_on_a_plane(&pool).await;
    let (source, copy, backup) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let now = chrono::Utc::now();
    // Both clusters are settled and synced: the pass has only the restore to do.
    for (id, name) in [(source, "search"), (copy, "search-copy")] {
        sqlx::query(
            "INSERT INTO vector_clusters (id, organization_id, data_plane_id, name, spec,
                 applied_generation, phase, synced_at)
             VALUES ($1, $2, $3, $4, $5, 1, 'Ready', $6)",
        )
        .bind(id)
        .bind(org)
        .bind(plane)
        .bind(name)
        .bind(serde_json::to_value(spec()).unwrap())
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO cluster_backups (id, organization_id, cluster_id, name, origin, phase)
         VALUES ($1, $2, $3, 'search-nightly', 'manual', 'Succeeded')",
    )
    .bind(backup)
    .bind(org)
    .bind(source)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE vector_clusters SET restore_from = $2, restore_phase = 'Running',
             restore_started_at = $3
         WHERE id = $1",
    )
    .bind(copy)
    .bind(backup)
    .bind(now)
    .execute(&pool)
    .await
    .unwrap();
    listen(&pool, org, &["restore.succeeded", "restore.failed"]).await;

    let (service, mut server) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let provisioner =
        control_plane::provisioner::Provisioner::new(pool.clone(), chrono::Duration::seconds(3))
            .with_client(plane, kube::Client::new(service, "default"))
            .await;
    let path = format!(
        "/apis/quartermaster.dev/v1alpha1/namespaces/{NS}/vectorclusterrestores/search-copy-restore"
    );
    {
        let serve = async {
            let (_, _, send) = expect(&mut server, "GET", &path).await;
            respond(
                send,
                200,
                &json!({ "apiVersion": "quartermaster.dev/v1alpha1", "kind": "VectorClusterRestore",
                         "metadata": { "name": "search-copy-restore", "namespace": NS },
                         "spec": { "backup": "search-nightly", "target": "search-copy" },
                         "status": { "phase": "Failed", "message": "shard 3 is missing from the snapshot" } }),
            );
        };
        let (handled, ()) = tokio::join!(provisioner.run_once_at(now), serve);
        handled.unwrap();
    }
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM webhook_events")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let event: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(event["type"], "restore.failed");
    assert_eq!(event["data"]["object"]["id"], copy.to_string());
    assert_eq!(event["data"]["object"]["backup"], "search-nightly");
    assert_eq!(
        event["data"]["object"]["message"],
        "shard 3 is missing from the snapshot"
    );
    let phase: String =
        sqlx::query_scalar("SELECT restore_phase FROM vector_clusters WHERE id = $1")
            .bind(copy)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(phase, "Failed");
    // Failed, it is no longer restoring: a second pass asks nothing more
    // (the mock would refuse it) and tells nothing more.
    provisioner
        .run_once_at(now + chrono::Duration::seconds(5))
        .await
        .unwrap();
    let told: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(told, 1);
}
