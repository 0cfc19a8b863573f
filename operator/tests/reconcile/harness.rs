//! A mocked API server (tower-test) that asserts every request the
//! reconciler makes, in order, with a 1-second timeout so that a missing
//! call fails; and stand-ins for Qdrant and the event sink that record what
//! they are asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Secret};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use operator::VectorCluster;
use operator::children::Children;
use operator::engine::{Engine, EngineError, EngineHealth, RequestCounter};
use operator::metrics::Metrics;
use operator::own_writes::OwnWrites;
use operator::reconcile::events::{Event, EventSink};
use operator::reconcile::shards::{Layout, Operation};
use operator::reconcile::{self, Context, Error};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock::{Handle, SendResponse};

use crate::apiserver_rules;
use crate::watched::{Held, Versions, Watches};

pub const NS: &str = "org-acme";
const TIMEOUT: Duration = Duration::from_secs(1);

/// Qdrant as the test wants it, recording each health check. Its shard
/// layout is empty (no collection, no peer to move) unless a test sets one,
/// and it takes no cluster operation.
#[derive(Default)]
pub struct FakeQdrant {
    pub answers: Mutex<Vec<EngineHealth>>,
    pub calls: Mutex<Vec<(String, String)>>,
    pub request_count: Mutex<u64>,
    pub layout: Mutex<Layout>,
}

impl Engine for FakeQdrant {
    fn health<'a>(
        &'a self,
        endpoint: &'a str,
        api_key: &'a str,
    ) -> BoxFuture<'a, Result<EngineHealth, EngineError>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((endpoint.to_owned(), api_key.to_owned()));
            let mut answers = self.answers.lock().unwrap();
            assert!(
                !answers.is_empty(),
                "Qdrant was asked for health, and no answer was expected"
            );
            Ok(answers.remove(0))
        })
    }

    fn layout<'a>(
        &'a self,
        _endpoint: &'a str,
        _api_key: &'a str,
        _statefulset: &'a str,
    ) -> BoxFuture<'a, Result<Layout, EngineError>> {
        let layout = self.layout.lock().unwrap().clone();
        Box::pin(async move { Ok(layout) })
    }

    fn operate<'a>(
        &'a self,
        _endpoint: &'a str,
        _api_key: &'a str,
        operation: &'a Operation,
    ) -> BoxFuture<'a, Result<(), EngineError>> {
        panic!("no cluster operation was expected, and the operator asked for {operation}")
    }
}

/// The inference engine's request counter, as the test sets it.
impl RequestCounter for FakeQdrant {
    fn requests<'a>(
        &'a self,
        base_url: &'a str,
        metric: &'static str,
    ) -> BoxFuture<'a, Result<u64, EngineError>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push((base_url.to_owned(), metric.to_owned()));
            Ok(*self.request_count.lock().unwrap())
        })
    }
}

#[derive(Default)]
pub struct Events(pub Mutex<Vec<Event>>);

impl EventSink for Events {
    fn publish<'a>(&'a self, _regarding: &'a ObjectReference, event: Event) -> BoxFuture<'a, ()> {
        self.0.lock().unwrap().push(event);
        Box::pin(async {})
    }
}

impl Events {
    pub fn take(&self) -> Vec<(bool, &'static str)> {
        self.0
            .lock()
            .unwrap()
            .drain(..)
            .map(|e| (e.warning, e.reason))
            .collect()
    }
}

pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

/// One request as received.
#[derive(Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

impl Call {
    async fn from(request: Request<Body>) -> Call {
        Call {
            method: request.method().to_string(),
            path: request.uri().path().to_owned(),
            query: request.uri().query().unwrap_or_default().to_owned(),
            content_type: request
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: {
                let bytes = request.into_body().collect_bytes().await.unwrap();
                if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                }
            },
        }
    }
}

pub struct Harness {
    pub server: ApiServer,
    pub ctx: Arc<Context>,
    pub qdrant: Arc<FakeQdrant>,
    pub events: Arc<Events>,
    /// The StatefulSet the apiserver holds, against which an apply is
    /// checked by the apiserver's update rules.
    stored_statefulset: Option<Value>,
    /// Served after the children, as `between` is before them.
    pub after: Vec<(&'static str, String, u16, Value)>,
    /// A child the apiserver refuses in the next pass, by kind, with the
    /// refusal's body (an admission webhook's or a quota's, say).
    pub refuse: Option<(&'static str, Value)>,
    /// The children the apiserver holds, as applied, with their versions.
    pub versions: Versions,
    watches: Watches,
}

/// A reconcile context on `client` with `qdrant` standing in for the
/// engines and `events` recording what is published.
pub fn context(client: Client, qdrant: Arc<FakeQdrant>, events: Arc<Events>) -> Arc<Context> {
    Arc::new(Context {
        client,
        engine: qdrant.clone(),
        requests: qdrant,
        events,
        metrics: Arc::new(Metrics::default()),
        system: operator::build::SystemNamespaces {
            operator: "quartermaster-system".to_owned(),
            prometheus: Some("monitoring".to_owned()),
            gateway: Some("qm-gateway".to_owned()),
        },
        backup_image: "ghcr.io/quartermaster/operator:test".to_owned(),
        children: Children::default(),
        own_writes: OwnWrites::default(),
    })
}

impl Harness {
    /// A harness whose reconciles ask `engine` for Qdrant's health.
    pub fn with_engine(engine: Arc<dyn Engine>) -> Harness {
        let mut h = Harness::new();
        Arc::get_mut(&mut h.ctx)
            .expect("the context is not shared yet")
            .engine = engine;
        h
    }

    pub fn new() -> Harness {
        let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, NS);
        let qdrant = Arc::new(FakeQdrant::default());
        let events = Arc::new(Events::default());
        let ctx = context(client, qdrant.clone(), events.clone());
        let watches = Watches::new(&ctx.children);
        Harness {
            server: ApiServer { handle },
            ctx,
            qdrant,
            events,
            stored_statefulset: None,
            after: Vec::new(),
            refuse: None,
            versions: Versions::default(),
            watches,
        }
    }

    /// The operator's watches relist and show exactly `held`: what this
    /// process applied of any other child is forgotten with it.
    pub fn show(&mut self, held: &Held) {
        self.watches.show(held);
    }

    /// The operator's watches have listed nothing yet, and no apply is
    /// remembered: a process just started.
    fn unlisted(&mut self) {
        let ctx = Arc::get_mut(&mut self.ctx).expect("no pass is running");
        ctx.children = Children::default();
        self.watches = Watches::new(&ctx.children);
    }

    pub fn start(&self, cluster: &VectorCluster) -> JoinHandle<Result<Action, Error>> {
        tokio::spawn(reconcile::reconcile(
            Arc::new(cluster.clone()),
            self.ctx.clone(),
        ))
    }
}

impl ApiServer {
    /// The next request, which must be `method` on `path`.
    pub async fn expect(
        &mut self,
        method: &str,
        path: &str,
    ) -> (Call, SendResponse<Response<Body>>) {
        let (request, send) = tokio::time::timeout(TIMEOUT, self.handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("no request within 1 s; expected {method} {path}"))
            .expect("the client went away");
        let call = Call::from(request).await;
        assert_eq!(
            (call.method.as_str(), call.path.as_str()),
            (method, path),
            "unexpected request: {call:?}"
        );
        (call, send)
    }

    /// The next request, which must be `method` on one of `paths`, and
    /// which of them.
    pub async fn expect_one_of(
        &mut self,
        method: &str,
        paths: &[&str],
    ) -> (usize, Call, SendResponse<Response<Body>>) {
        let (request, send) = tokio::time::timeout(TIMEOUT, self.handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("no request within 1 s; expected {method} on {paths:?}"))
            .expect("the client went away");
        let call = Call::from(request).await;
        let found = paths.iter().position(|p| *p == call.path);
        match found {
            Some(index) if call.method == method => (index, call, send),
            _ => panic!("unexpected request, not {method} on {paths:?}: {call:?}"),
        }
    }

    /// Asserts the client sends nothing more.
    pub async fn expect_nothing(&mut self) {
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_millis(200), self.handle.next_request()).await
        {
            panic!("unexpected request: {} {}", request.method(), request.uri());
        }
    }
}

pub fn respond(send: SendResponse<Response<Body>>, status: u16, body: &Value) {
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    send.send_response(response);
}

pub fn not_found() -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "not found", "reason": "NotFound", "code": 404 })
}

/// What the data plane holds when a reconcile starts.
#[derive(Clone, Default)]
pub struct World {
    pub secret: Option<Secret>,
    pub statefulset: Option<StatefulSet>,
    pub pods: Vec<Pod>,
    /// The children the operator's watches show, once they have listed
    /// them (`None`: not yet listed, as when the operator has just started).
    pub watched: Option<Held>,
}

/// What a reconcile applied, by kind, and the status it patched, if any.
#[derive(Debug)]
pub struct Applied {
    pub objects: BTreeMap<&'static str, Value>,
    pub status: Option<Value>,
}

impl Applied {
    pub fn statefulset(&self) -> StatefulSet {
        serde_json::from_value(self.objects["statefulset"].clone()).unwrap()
    }

    pub fn secret(&self) -> Secret {
        serde_json::from_value(self.objects["secret"].clone()).unwrap()
    }

    pub fn partition(&self) -> i64 {
        self.objects["statefulset"]["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
            .as_i64()
            .unwrap()
    }

    pub fn image(&self) -> &str {
        self.objects["statefulset"]["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
    }
}

/// A child the reconciler applies: the harness's name for it, its path.
pub type Child = (&'static str, &'static str);

/// The children in the stages the reconciler applies them in: every child
/// of a stage at once, a stage only once the one before is answered.
const STAGES: [&[Child]; 3] = [
    &[
        (
            "networkpolicy",
            "/apis/networking.k8s.io/v1/namespaces/org-acme/networkpolicies/search",
        ),
        (
            "pdb",
            "/apis/policy/v1/namespaces/org-acme/poddisruptionbudgets/search",
        ),
    ],
    &[
        (
            "configmap",
            "/api/v1/namespaces/org-acme/configmaps/search-config",
        ),
        (
            "secret",
            "/api/v1/namespaces/org-acme/secrets/search-api-keys",
        ),
        (
            "headless",
            "/api/v1/namespaces/org-acme/services/search-peers",
        ),
        ("client", "/api/v1/namespaces/org-acme/services/search"),
    ],
    &[(
        "statefulset",
        "/apis/apps/v1/namespaces/org-acme/statefulsets/search",
    )],
];

/// `children` applied one after another, each a stage of its own.
pub fn one_by_one(children: &[Child]) -> Vec<Vec<Child>> {
    children.iter().map(|child| vec![*child]).collect()
}

pub const CLUSTER_PATH: &str =
    "/apis/quartermaster.dev/v1alpha1/namespaces/org-acme/vectorclusters/search";

/// A read the reconciler makes: the path, what its query must contain, and
/// the object to answer with (`None`: 404).
pub struct Read {
    pub path: String,
    pub query_contains: Option<&'static str>,
    pub answer: Option<Value>,
}

impl Read {
    pub fn get(path: &str, answer: Option<Value>) -> Read {
        Read {
            path: path.to_owned(),
            query_contains: None,
            answer,
        }
    }
}

fn to_value<T: serde::Serialize>(object: &Option<T>) -> Option<Value> {
    object.as_ref().map(|o| serde_json::to_value(o).unwrap())
}

impl Harness {
    /// Serves one reconcile pass: the reads in order, then one server-side
    /// apply per child, stage by stage (`stages`), then a status patch or
    /// nothing at all.
    pub async fn pass(
        &mut self,
        task: JoinHandle<Result<Action, Error>>,
        reads: Vec<Read>,
        stages: &[Vec<Child>],
        resource_path: &str,
        resource: Value,
    ) -> Applied {
        self.pass_with(task, reads, vec![], stages, resource_path, resource)
            .await
    }

    /// As [`Harness::pass`], with `between` served after the reads: each a
    /// method, a path and the answer (status and body). Returns what they
    /// carried too.
    pub async fn pass_with(
        &mut self,
        task: JoinHandle<Result<Action, Error>>,
        reads: Vec<Read>,
        between: Vec<(&str, String, u16, Value)>,
        stages: &[Vec<Child>],
        resource_path: &str,
        resource: Value,
    ) -> Applied {
        let server = &mut self.server;
        for read in reads {
            let (call, send) = server.expect("GET", &read.path).await;
            if let Some(needle) = read.query_contains {
                assert!(call.query.contains(needle), "{}", call.query);
            }
            match read.answer {
                Some(answer) => respond(send, 200, &answer),
                None => respond(send, 404, &not_found()),
            }
        }
        let mut objects = BTreeMap::new();
        for (method, path, status, answer) in between {
            let (call, send) = server.expect(method, &path).await;
            if call.body != Value::Null {
                objects.insert("between", call.body);
            }
            respond(send, status, &answer);
        }
        let stored = self.stored_statefulset.take();
        let refuse = self.refuse.take();
        for stage in stages {
            // Every child of the stage is asked for before any is answered:
            // they go at once.
            let paths: Vec<&str> = stage.iter().map(|(_, path)| *path).collect();
            let mut calls: Vec<Option<_>> = stage.iter().map(|_| None).collect();
            for _ in stage {
                let (index, call, send) = server.expect_one_of("PATCH", &paths).await;
                assert!(calls[index].is_none(), "applied twice: {call:?}");
                assert!(
                    call.query.contains("fieldManager=quartermaster-operator"),
                    "{}",
                    call.query
                );
                assert!(call.query.contains("force=true"), "{}", call.query);
                assert_eq!(call.content_type, "application/apply-patch+yaml");
                calls[index] = Some((call, send));
            }
            for ((kind, _), (call, send)) in stage.iter().zip(calls.into_iter().flatten()) {
                let refusal = match (*kind, &stored, &refuse) {
                    (_, _, Some((refused, status))) if refused == kind => Some(status.clone()),
                    ("statefulset", Some(stored), _) => {
                        apiserver_rules::statefulset_update(stored, &call.body)
                    }
                    _ => None,
                };
                match refusal {
                    Some(status) => {
                        respond(send, 422, &status);
                        objects.insert("refused", status);
                    }
                    None => {
                        respond(send, 200, &self.versions.apply(kind, &call.body));
                        objects.insert(*kind, call.body);
                    }
                }
            }
        }
        for (method, path, status, answer) in std::mem::take(&mut self.after) {
            let (call, send) = server.expect(method, &path).await;
            if call.body != Value::Null {
                objects.insert("after", call.body);
            }
            respond(send, status, &answer);
        }
        let status_path = format!("{resource_path}/status");
        let status = tokio::select! {
            next = server.expect("PATCH", &status_path) => {
                let (call, send) = next;
                assert_eq!(call.content_type, "application/merge-patch+json");
                let mut echoed = resource;
                echoed["status"] = call.body["status"].clone();
                respond(send, 200, &echoed);
                Some(call.body["status"].clone())
            }
            () = wait_for(&task) => None,
        };
        let result = tokio::time::timeout(TIMEOUT, task).await.unwrap().unwrap();
        let refused = objects.contains_key("refused");
        assert!(
            result.is_ok() != refused,
            "a pass with a refusal fails (and is retried); one without succeeds: {result:?}"
        );
        server.expect_nothing().await;
        Applied { objects, status }
    }

    /// One reconcile of a cluster that has its finalizer, serving `world`.
    pub async fn reconcile(&mut self, cluster: &VectorCluster, world: &World) -> Applied {
        self.reconcile_with(cluster, world, vec![]).await
    }

    /// As [`Harness::reconcile`], with `between` as in [`Harness::pass_with`].
    pub async fn reconcile_with(
        &mut self,
        cluster: &VectorCluster,
        world: &World,
        between: Vec<(&str, String, u16, Value)>,
    ) -> Applied {
        let every: Vec<_> = STAGES
            .iter()
            .copied()
            .flatten()
            .map(|(kind, _)| *kind)
            .collect();
        self.reconcile_applying(cluster, world, between, &every)
            .await
    }

    /// As [`Harness::reconcile_with`], where only the children named in
    /// `applied` (by kind) are expected to be applied, in their stages.
    pub async fn reconcile_applying(
        &mut self,
        cluster: &VectorCluster,
        world: &World,
        between: Vec<(&str, String, u16, Value)>,
        applied: &[&str],
    ) -> Applied {
        match &world.watched {
            Some(watched) => self.show(watched),
            None => self.unlisted(),
        }
        let stages: Vec<Vec<Child>> = STAGES
            .iter()
            .map(|stage| {
                let stage = stage.iter().filter(|(kind, _)| applied.contains(kind));
                stage.copied().collect::<Vec<_>>()
            })
            .filter(|stage| !stage.is_empty())
            .collect();
        let task = self.start(cluster);
        self.stored_statefulset = to_value(&world.statefulset);
        // Watches that have listed neither the Secret nor the StatefulSet
        // show a new cluster: its pass reads nothing.
        let new = world
            .watched
            .as_ref()
            .is_some_and(|w| !w.contains_key("secret") && !w.contains_key("statefulset"));
        let reads = if new {
            vec![]
        } else {
            vec![
                Read::get(
                    "/api/v1/namespaces/org-acme/secrets/search-api-keys",
                    to_value(&world.secret),
                ),
                Read::get(
                    "/apis/apps/v1/namespaces/org-acme/statefulsets/search",
                    to_value(&world.statefulset),
                ),
                Read {
                    path: "/api/v1/namespaces/org-acme/pods".to_owned(),
                    query_contains: Some(
                        "labelSelector=app.kubernetes.io%2Finstance%3Dsearch%2Capp.kubernetes.io%2Fname%3Dqdrant",
                    ),
                    answer: Some(
                        json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": world.pods }),
                    ),
                },
            ]
        };
        self.pass_with(
            task,
            reads,
            between,
            &stages,
            CLUSTER_PATH,
            serde_json::to_value(cluster).unwrap(),
        )
        .await
    }
}

async fn wait_for(task: &JoinHandle<Result<Action, Error>>) {
    while !task.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
