//! A gateway on loopback in front of the vLLM stand-in, with a stand-in
//! control plane that serves the key set as `GET /v1/data-plane/inference-keys`
//! does (ETag, `304` on `If-None-Match`, `401` without the data plane's
//! token) and takes usage as `POST /v1/usage/events` does (a JSON array of
//! CloudEvents, answered with the counts).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crds::gateway::{GatewayEndpoint, InferenceKey, KeySet, key_hash};
use futures::future::BoxFuture;
use gateway::keys::{KeyStore, Keys};
use gateway::pods::{Pod, Pods, Waker};
use gateway::standin::{self, Engine, Running};
use gateway::{Gateway, router};
use serde_json::Value;
use uuid::Uuid;

pub const ORG: Uuid = Uuid::from_u128(0xA);
pub const OTHER_ORG: Uuid = Uuid::from_u128(0xB);
pub const CHAT: Uuid = Uuid::from_u128(0x10);
pub const EMBED: Uuid = Uuid::from_u128(0x11);
pub const THEIRS: Uuid = Uuid::from_u128(0x20);
pub const SERVED: &str = "meta-llama/Llama-3.1-8B-Instruct";
pub const ENGINE_KEY: &str = "engine-secret";
pub const DATA_PLANE_TOKEN: &str = "qmdp_test";

pub fn endpoint(id: Uuid, organization_id: Uuid, name: &str) -> GatewayEndpoint {
    GatewayEndpoint {
        id,
        organization_id,
        name: name.into(),
        served_model: SERVED.into(),
        cold_start_timeout_seconds: 600,
    }
}

pub fn key(token: &str, organization_id: Uuid, endpoint_id: Option<Uuid>) -> InferenceKey {
    InferenceKey {
        id: Uuid::from_u128(
            token
                .bytes()
                .fold(7u128, |a, b| a.wrapping_mul(31).wrapping_add(u128::from(b))),
        ),
        organization_id,
        hash: key_hash(token),
        endpoint_id,
        expires_at: None,
        requests_per_minute: None,
        tokens_per_minute: None,
    }
}

/// Keys `qmi_all` (every endpoint of ORG), `qmi_chat` (CHAT only) and
/// `qmi_theirs` (OTHER_ORG); endpoints CHAT and EMBED of ORG, THEIRS of
/// OTHER_ORG.
pub fn key_set() -> KeySet {
    KeySet {
        keys: vec![
            key("qmi_all", ORG, None),
            key("qmi_chat", ORG, Some(CHAT)),
            key("qmi_theirs", OTHER_ORG, None),
        ],
        refused: vec![],
        endpoints: vec![
            endpoint(CHAT, ORG, "chat"),
            endpoint(EMBED, ORG, "embed"),
            endpoint(THEIRS, OTHER_ORG, "chat"),
        ],
    }
}

/// Records the endpoints asked to wake; with `ready`, makes them ready
/// after `after`.
pub struct TestWaker {
    pub woken: Mutex<Vec<Uuid>>,
    pub ready: Option<(Arc<Pods>, String, Duration)>,
}

impl Waker for TestWaker {
    fn wake<'a>(&'a self, endpoint: &'a GatewayEndpoint) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if let Ok(mut woken) = self.woken.lock() {
                woken.push(endpoint.id);
            }
            if let Some((pods, url, after)) = self.ready.clone() {
                let id = endpoint.id;
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    pods.set(id, vec![Pod::new(url, Some(ENGINE_KEY.to_owned()))]);
                });
            }
            Ok(())
        })
    }
}

pub struct Harness {
    pub gateway: Arc<Gateway>,
    pub url: String,
    pub engine: Running,
    pub waker: Arc<TestWaker>,
    pub http: reqwest::Client,
}

pub struct Options {
    pub set: KeySet,
    pub ready: bool,
    pub wake_after: Option<Duration>,
    pub queue: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            set: key_set(),
            ready: true,
            wake_after: None,
            queue: 16,
        }
    }
}

pub async fn harness(engine: Engine, options: Options) -> Harness {
    let engine = standin::serve(engine).await.unwrap();
    let pods = Arc::new(Pods::default());
    if options.ready {
        for id in [CHAT, EMBED, THEIRS] {
            pods.set(
                id,
                vec![Pod::new(engine.base_url(), Some(ENGINE_KEY.to_owned()))],
            );
        }
    }
    let waker = Arc::new(TestWaker {
        woken: Mutex::new(Vec::new()),
        ready: options
            .wake_after
            .map(|after| (Arc::clone(&pods), engine.base_url(), after)),
    });
    let keys = Arc::new(KeyStore::new(Duration::from_secs(600)));
    keys.replace(Keys::new(options.set));
    let gateway = Arc::new(Gateway::new(keys, pods, waker.clone(), options.queue).unwrap());
    let url = serve(router(Arc::clone(&gateway))).await;
    Harness {
        gateway,
        url,
        engine,
        waker,
        http: reqwest::Client::new(),
    }
}

pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { gateway::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

impl Harness {
    pub async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// The stand-in control plane's state: the set it serves and what it got.
#[derive(Default)]
pub struct ControlPlaneState {
    pub set: Mutex<KeySet>,
    pub not_modified: Mutex<u32>,
    pub events: Mutex<Vec<Value>>,
    /// Ingest requests to answer 503 before storing any.
    pub refuse: Mutex<u32>,
}

pub async fn control_plane(state: Arc<ControlPlaneState>) -> String {
    async fn keys(State(state): State<Arc<ControlPlaneState>>, headers: HeaderMap) -> Response {
        if headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {DATA_PLANE_TOKEN}"))
        {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        let body = serde_json::to_vec(&*state.set.lock().unwrap()).unwrap();
        let etag = format!("\"{}\"", key_hash(&String::from_utf8_lossy(&body)));
        if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            == Some(&etag)
        {
            *state.not_modified.lock().unwrap() += 1;
            return StatusCode::NOT_MODIFIED.into_response();
        }
        (
            [
                (header::ETAG, etag),
                (header::CONTENT_TYPE, "application/json".into()),
            ],
            body,
        )
            .into_response()
    }
    async fn ingest_or_refuse(
        State(state): State<Arc<ControlPlaneState>>,
        headers: HeaderMap,
        body: axum::Json<Vec<Value>>,
    ) -> Response {
        {
            let mut refuse = state.refuse.lock().unwrap();
            if *refuse > 0 {
                *refuse -= 1;
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
        ingest(State(state), headers, body).await
    }
    async fn ingest(
        State(state): State<Arc<ControlPlaneState>>,
        headers: HeaderMap,
        body: axum::Json<Vec<Value>>,
    ) -> Response {
        assert_eq!(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok()),
            Some(format!("Bearer {DATA_PLANE_TOKEN}").as_str())
        );
        for event in &body.0 {
            assert_eq!(event["specversion"], "1.0");
            assert_eq!(event["type"], "dev.quartermaster.usage");
            assert!(
                event["subject"]
                    .as_str()
                    .unwrap()
                    .starts_with("organizations/")
            );
        }
        let accepted = body.0.len();
        state.events.lock().unwrap().extend(body.0);
        axum::Json(serde_json::json!({"accepted": accepted, "duplicates": 0, "rejected": [], "conflicts": []})).into_response()
    }
    serve(
        axum::Router::new()
            .route(crds::gateway::KEY_SET_PATH, get(keys))
            .route("/v1/usage/events", post(ingest_or_refuse))
            .with_state(state),
    )
    .await
}
