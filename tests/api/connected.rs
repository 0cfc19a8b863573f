//! A connected data plane end to end: the real control plane (the API on
//! loopback over its own database) and the operator's own sync loop
//! (`operator::sync::run`) against Kubernetes. That is the in-memory API
//! server (`operator::fake_apiserver`), or a real cluster when
//! `QM_TEST_KUBECONFIG` names one. Between them, a loopback relay that a
//! test can cut, as a network would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use control_plane::data_planes::enrollment;
use crds::VectorCluster;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::Api;
use kube::api::{Patch, PatchParams};
use operator::collector::spool::{Spool, deliver};
use operator::collector::{Kind, Running, sample};
use operator::fake_apiserver::ApiServer;
use operator::sync::{Backoff, Config};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::helpers::{Auth, TestApp};

/// The data plane's Kubernetes: the fake, or the real cluster the
/// environment names. On a real one each test has an operator namespace of
/// its own, which holds its credential, and removes what it made.
struct Kube {
    client: kube::Client,
    fake: Option<ApiServer>,
    operator_ns: String,
}

impl Kube {
    async fn new() -> Kube {
        let kube = match std::env::var("QM_TEST_KUBECONFIG") {
            Ok(path) => {
                let config = kube::Config::from_custom_kubeconfig(
                    kube::config::Kubeconfig::read_from(path).unwrap(),
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .unwrap();
                let client = kube::Client::try_from(config).unwrap();
                let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
                    Api::all(client.clone());
                for crd in crds::all() {
                    let name = crd.metadata.name.clone().unwrap();
                    crds.patch(
                        &name,
                        &PatchParams::apply("qm-test").force(),
                        &Patch::Apply(&crd),
                    )
                    .await
                    .unwrap();
                }
                Kube {
                    client,
                    fake: None,
                    operator_ns: format!("qm-test-sync-{}", Uuid::now_v7().simple()),
                }
            }
            Err(_) => {
                let fake = ApiServer::new();
                let address = fake.serve().await.unwrap();
                Kube {
                    client: ApiServer::client(address).unwrap(),
                    fake: Some(fake),
                    operator_ns: "quartermaster-system".to_owned(),
                }
            }
        };
        let namespaces: Api<Namespace> = Api::all(kube.client.clone());
        namespaces
            .patch(
                &kube.operator_ns,
                &PatchParams::apply("qm-test").force(),
                &Patch::Apply(json!({ "apiVersion": "v1", "kind": "Namespace",
                                      "metadata": { "name": kube.operator_ns } })),
            )
            .await
            .unwrap();
        kube
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Removes the namespaces a test made in a real cluster.
    async fn clean(&self, tenant: &str) {
        if self.fake.is_none() {
            let namespaces: Api<Namespace> = Api::all(self.client.clone());
            for ns in [tenant, &self.operator_ns] {
                let _ = namespaces.delete(ns, &Default::default()).await;
            }
        }
    }
}

/// A relay from a loopback port to the control plane, which can be cut
/// (every connection refused at once) and mended.
struct Relay {
    url: String,
    down: Arc<AtomicBool>,
}

impl Relay {
    async fn to(base: &str) -> Relay {
        let target: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let down = Arc::new(AtomicBool::new(false));
        let cut = down.clone();
        tokio::spawn(async move {
            loop {
                let (mut inbound, _) = listener.accept().await.unwrap();
                if cut.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let cut = cut.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    // A cut also ends the connections already open.
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = async { while !cut.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        } } => {}
                    }
                });
            }
        });
        Relay { url, down }
    }

    fn cut(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

/// Registers data plane `eu-1` for region `eu-west` and starts its sync
/// loop against `kube`, reaching the control plane through `relay`.
async fn start_sync(
    app: &TestApp,
    kube: &Kube,
    relay: &Relay,
) -> (tempfile::TempDir, oneshot::Sender<()>) {
    let mut conn = app.pool.acquire().await.unwrap();
    let plane = enrollment::NewDataPlane {
        name: "eu-1",
        region: "eu-west",
        organization_id: None,
        price_list: None,
        backups: false,
        gateway_url: None,
    };
    let (_, token) =
        enrollment::register(&mut conn, &plane, enrollment::ENROLLMENT_TTL, Utc::now())
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, token).unwrap();
    let mut config = Config::new(relay.url.clone(), &kube.operator_ns, token_file);
    config.wait = Duration::from_secs(2);
    config.backoff = Backoff {
        first: Duration::from_millis(50),
        max: Duration::from_millis(300),
    };
    config.report_interval = Duration::from_millis(50);
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(operator::sync::run(
        config,
        kube.client.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    (dir, stop)
}

/// Polls `check` until it holds; fails after a generous while.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..600 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 30 s")
}

/// What the operator does once a deleted cluster's StatefulSet is gone:
/// it removes the finalizer the sync loop applied with the cluster.
async fn cleaned_up(kube: &Kube, namespace: &str, name: &str) {
    let clusters: Api<VectorCluster> = kube.api(namespace);
    let held = eventually("the deletion begun", async || {
        clusters
            .get_opt(name)
            .await
            .unwrap()
            .filter(|c| c.metadata.deletion_timestamp.is_some())
    })
    .await;
    assert_eq!(
        held.metadata.finalizers,
        Some(vec![crds::vector_cluster::FINALIZER.to_owned()])
    );
    clusters
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
        )
        .await
        .unwrap();
}

/// What a reconciler would write once it has acted on the cluster.
async fn ready(kube: &Kube, namespace: &str, name: &str) {
    let clusters: Api<VectorCluster> = kube.api(namespace);
    let generation = clusters.get(name).await.unwrap().metadata.generation;
    clusters
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": {
                "observedGeneration": generation, "phase": "Ready", "readyNodes": 1,
                "currentVersion": "1.13.6", "endpoint": "http://search.svc:6333", "conditions": [],
            } })),
        )
        .await
        .unwrap();
}

/// A cluster `search` of Ada's (on starter) made through the API, once the
/// data plane has it.
struct Made {
    ada: crate::helpers::Customer,
    key: Auth,
    id: String,
    /// Its API path.
    path: String,
    /// Its tenant's namespace.
    ns: String,
    applied: VectorCluster,
}

async fn made(app: &TestApp, kube: &Kube) -> Made {
    let ada = app.signup("ada@example.com").await;
    app.set_plan(ada.org_id, &ada.session, "starter").await;
    let key = app.api_key(&ada).await;
    let created = app
        .post(
            &format!("/v1/organizations/{}/clusters", ada.org_id),
            &key,
            json!({ "name": "search", "region": "eu-west" }),
        )
        .await;
    let id = created.ok(202)["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/organizations/{}/clusters/{id}", ada.org_id);
    let ns = crds::tenant::namespace_of(ada.org_id);
    let clusters: Api<VectorCluster> = kube.api(&ns);
    let applied = eventually("the cluster applied", async || {
        clusters.get_opt("search").await.unwrap()
    })
    .await;
    Made {
        ada,
        key,
        id,
        path,
        ns,
        applied,
    }
}

async fn ready_in_the_api(app: &TestApp, path: &str, key: &Auth) {
    eventually("Ready in the API", async || {
        let got = app.get(path, key).await;
        (got.body["status"]["phase"] == "Ready").then_some(())
    })
    .await;
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn a_cluster_made_through_the_api_runs_in_the_connected_data_plane(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let kube = Kube::new().await;
    let relay = Relay::to(&app.base).await;
    let (_dir, _stop) = start_sync(&app, &kube, &relay).await;

    let Made {
        ada,
        key,
        id,
        path,
        ns,
        applied,
    } = made(&app, &kube).await;
    let clusters: Api<VectorCluster> = kube.api(&ns);

    // In the data plane: the tenant's namespace with its guard rails, and
    // the cluster labelled with its id.
    let labels = applied.metadata.labels.clone().unwrap();
    assert_eq!(labels["quartermaster.dev/id"], id);
    assert_eq!(
        labels["quartermaster.dev/organization"],
        ada.org_id.to_string()
    );
    assert_eq!(
        applied.metadata.annotations.as_ref().unwrap()["quartermaster.dev/generation"],
        "1"
    );
    let quotas: Api<ResourceQuota> = kube.api(&ns);
    quotas.get("quartermaster").await.unwrap();
    let policies: Api<NetworkPolicy> = kube.api(&ns);
    policies.get("default-deny").await.unwrap();

    // Its status comes back through the control plane's API.
    ready(&kube, &ns, "search").await;
    ready_in_the_api(&app, &path, &key).await;

    // A resize reaches the data plane as generation 2.
    app.patch(&path, &key, json!({ "storage_gib": 20 }))
        .await
        .ok(202);
    eventually("the resize applied", async || {
        let c = clusters.get("search").await.unwrap();
        (c.spec.resources.storage_gib == 20).then_some(())
    })
    .await;
    ready(&kube, &ns, "search").await;
    eventually("generation 2 acted on", async || {
        let got = app.get(&path, &key).await;
        (got.body["status"]["observed_generation"] == 2).then_some(())
    })
    .await;

    // Deleted through the API: gone from the data plane, then from the API.
    app.delete(&path, &key).await.ok(202);
    cleaned_up(&kube, &ns, "search").await;
    eventually("deleted in the data plane", async || {
        clusters
            .get_opt("search")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    eventually("deleted in the API", async || {
        (app.get(&path, &key).await.status.as_u16() == 404).then_some(())
    })
    .await;
    kube.clean(&ns).await;
}

#[sqlx::test(migrator = "control_plane::db::MIGRATOR")]
async fn with_the_control_plane_away_clusters_run_on_and_usage_arrives_once(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    let kube = Kube::new().await;
    let relay = Relay::to(&app.base).await;
    let (dir, _stop) = start_sync(&app, &kube, &relay).await;
    let Made {
        ada,
        key,
        id,
        path,
        ns,
        ..
    } = made(&app, &kube).await;
    let clusters: Api<VectorCluster> = kube.api(&ns);
    ready(&kube, &ns, "search").await;
    ready_in_the_api(&app, &path, &key).await;
    let credential: String = {
        // The data plane's credential, as the chart gives it to the
        // collector (from the Secret the sync loop keeps).
        let secrets: Api<k8s_openapi::api::core::v1::Secret> = kube.api(&kube.operator_ns);
        let secret = secrets
            .get("quartermaster-data-plane-credential")
            .await
            .unwrap();
        let data = secret.data.unwrap();
        String::from_utf8(data["credential"].0.clone()).unwrap()
    };

    // The control plane goes away for a while.
    relay.cut(true);
    let deletes_before = kube.fake.as_ref().map(|f| f.count("DELETE"));
    let spool = Spool::open(dir.path().join("spool")).unwrap();
    let running = [Running {
        organization_id: ada.org_id.to_string(),
        resource_id: id.clone(),
        kind: Kind::Cluster {
            ready_nodes: 1,
            storage_bytes: 1 << 30,
            points: Some(10),
            requests: None,
        },
    }];
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let ingest = format!("{}/v1/usage/events", relay.url);
    let minute = chrono::Duration::minutes(1);
    let t0 = Utc::now() - chrono::Duration::minutes(10);
    for m in 0..3 {
        let events = sample(
            "dataplane/eu-1/collector",
            t0 + minute * m,
            minute,
            &running,
        );
        spool.put((t0 + minute * m).timestamp(), &events).unwrap();
        deliver(&spool, &http, &ingest, &credential).await.unwrap();
    }
    assert_eq!(
        spool.pending().unwrap().len(),
        3,
        "nothing delivered while away"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Nothing was deleted for the silence, and the cluster runs on.
    assert!(clusters.get_opt("search").await.unwrap().is_some());
    if let (Some(fake), Some(before)) = (&kube.fake, deletes_before) {
        assert_eq!(fake.count("DELETE"), before);
    }
    let got = app.get(&path, &key).await;
    assert_eq!(got.ok(200)["status"]["phase"], "Ready");
    // A change made meanwhile waits for the data plane.
    app.patch(&path, &key, json!({ "storage_gib": 30 }))
        .await
        .ok(202);

    // Back: the spool is delivered, once however often it is sent.
    relay.cut(false);
    deliver(&spool, &http, &ingest, &credential).await.unwrap();
    assert_eq!(spool.pending().unwrap().len(), 0);
    for m in 0..3 {
        let events = sample(
            "dataplane/eu-1/collector",
            t0 + minute * m,
            minute,
            &running,
        );
        let again = app
            .post(
                "/v1/usage/events",
                &Auth::Key(credential.clone()),
                Value::Array(events),
            )
            .await;
        assert_eq!(again.ok(200)["accepted"], 0);
    }
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage_events WHERE organization_id = $1 AND meter = 'node_seconds'",
    )
    .bind(ada.org_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(stored, 3);

    // And the sync loop picks up where it was: the change arrives.
    eventually("the change after the outage applied", async || {
        let c = clusters.get("search").await.unwrap();
        (c.spec.resources.storage_gib == 30).then_some(())
    })
    .await;
    kube.clean(&ns).await;
}
