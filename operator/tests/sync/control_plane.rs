//! A control plane on loopback that speaks `crds::sync` as the real one
//! does: problem+json errors, one-time enrollment tokens, credentials by
//! bearer, a desired state by version with tombstones, `204` when nothing
//! changed within `wait`. It records what it receives, and can be made to
//! answer 503, refuse every credential, or stop listening.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use crds::sync::{
    DESIRED_PATH, Desired, DesiredState, ENROLL_PATH, Enrolled, Enrollment, Identity, ROTATE_PATH,
    Report, STATUS_PATH, StatusReport,
};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

pub const TOKEN: &str = "qmen_one_time_token";

#[derive(Debug, Default)]
pub struct Inner {
    /// Enrollment tokens, and whether each was used.
    pub tokens: BTreeMap<String, bool>,
    /// Credentials accepted.
    pub credentials: Vec<String>,
    /// Every credential refused (a revoked data plane).
    pub revoked: bool,
    /// Answer 503 to everything.
    pub down: bool,
    pub version: i64,
    /// The latest desired state of each resource, tombstones included.
    pub resources: BTreeMap<Uuid, Desired>,
    /// Every report received, in order.
    pub reports: Vec<Report>,
    /// `since` of each desired-state request answered (not refused).
    pub polls: Vec<i64>,
    /// The bearer of each request let in.
    pub bearers: Vec<String>,
    /// Requests refused with 401 (after enrollment) and 503.
    pub refused: usize,
    pub unavailable: usize,
}

#[derive(Debug, Clone)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    pub address: SocketAddr,
    stop: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "type": "https://quartermaster.dev/problems/test",
        "title": status.canonical_reason().unwrap_or_default(),
        "status": status.as_u16(),
        "detail": detail,
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

impl StandIn {
    pub async fn start() -> StandIn {
        let mut inner = Inner::default();
        inner.tokens.insert(TOKEN.to_owned(), false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stand_in = StandIn {
            inner: Arc::new(Mutex::new(inner)),
            changed: Arc::default(),
            address: listener.local_addr().unwrap(),
            stop: Arc::default(),
        };
        stand_in.listen(listener);
        stand_in
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn listen(&self, listener: tokio::net::TcpListener) {
        let router = axum::Router::new()
            .route(ENROLL_PATH, post(enroll))
            .route(DESIRED_PATH, get(desired))
            .route(STATUS_PATH, post(status))
            .route(ROTATE_PATH, post(rotate))
            .with_state(self.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        *self.stop.lock().unwrap() = Some(stop);
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
    }

    /// Stops listening: connections are refused until [`StandIn::resume`].
    pub fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        self.changed.notify_waiters();
    }

    /// Listens again on the same address.
    pub async fn resume(&self) {
        let listener = loop {
            match tokio::net::TcpListener::bind(self.address).await {
                Ok(listener) => break listener,
                // The old socket may linger a moment.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        self.listen(listener);
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Sets a resource's desired state under the next version.
    pub fn put(&self, mut desired: Desired) {
        {
            let mut inner = self.lock();
            inner.version += 1;
            desired.version = inner.version;
            inner.resources.insert(desired.id, desired);
        }
        self.changed.notify_waiters();
    }

    /// The desired state of `id`, as last put.
    pub fn resource(&self, id: Uuid) -> Desired {
        self.lock().resources[&id].clone()
    }

    pub fn reports(&self) -> Vec<Report> {
        self.lock().reports.clone()
    }

    /// The refusal of a request, if it is refused.
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let mut inner = self.lock();
        if inner.down {
            inner.unavailable += 1;
            return Some(problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "down for maintenance",
            ));
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if inner.revoked || !inner.credentials.iter().any(|c| c == bearer) {
            inner.refused += 1;
            return Some(problem(
                StatusCode::UNAUTHORIZED,
                "this data plane's credential was revoked",
            ));
        }
        inner.bearers.push(bearer.to_owned());
        None
    }
}

fn identity() -> Identity {
    Identity {
        id: Uuid::from_u128(0xd0),
        name: "eu-1".to_owned(),
        region: "eu-west-1".to_owned(),
        organization_id: None,
    }
}

fn issue(inner: &mut Inner) -> Enrolled {
    let credential = format!("qmdc_credential_{}", inner.credentials.len() + 1);
    inner.credentials.push(credential.clone());
    Enrolled {
        data_plane: identity(),
        credential,
    }
}

async fn enroll(State(s): State<StandIn>, Json(body): Json<Enrollment>) -> Response {
    let mut inner = s.lock();
    match inner.tokens.get_mut(&body.token) {
        Some(used @ false) => {
            *used = true;
            Json(issue(&mut inner)).into_response()
        }
        Some(true) => problem(
            StatusCode::UNAUTHORIZED,
            "this enrollment token was already used",
        ),
        None => problem(StatusCode::UNAUTHORIZED, "unknown enrollment token"),
    }
}

#[derive(Debug, Deserialize)]
struct Poll {
    since: i64,
    wait: u64,
}

async fn desired(
    State(s): State<StandIn>,
    headers: HeaderMap,
    Query(poll): Query<Poll>,
) -> Response {
    if let Some(refused) = s.refusal(&headers) {
        return refused;
    }
    assert!(
        poll.wait <= crds::sync::MAX_WAIT_SECONDS,
        "wait {}",
        poll.wait
    );
    let changed = s.changed.clone();
    let notified = changed.notified();
    futures::pin_mut!(notified);
    // Registered before reading, so that no change slips between.
    notified.as_mut().enable();
    let answer = |inner: &Inner| {
        let complete = poll.since == 0;
        let resources: Vec<Desired> = inner
            .resources
            .values()
            .filter(|d| {
                if complete {
                    !d.delete
                } else {
                    d.version > poll.since
                }
            })
            .cloned()
            .collect();
        (complete || !resources.is_empty()).then_some(DesiredState {
            version: inner.version,
            complete,
            resources,
        })
    };
    {
        let mut inner = s.lock();
        if let Some(state) = answer(&inner) {
            inner.polls.push(poll.since);
            return Json(state).into_response();
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(poll.wait), notified).await;
    let mut inner = s.lock();
    inner.polls.push(poll.since);
    match answer(&inner) {
        Some(state) => Json(state).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    }
}

async fn status(
    State(s): State<StandIn>,
    headers: HeaderMap,
    Json(body): Json<StatusReport>,
) -> Response {
    if let Some(refused) = s.refusal(&headers) {
        return refused;
    }
    let mut inner = s.lock();
    let applied = body.reports.len();
    let unknown: Vec<Uuid> = body
        .reports
        .iter()
        .filter(|r| !inner.resources.contains_key(&r.id))
        .map(|r| r.id)
        .collect();
    inner.reports.extend(body.reports);
    Json(json!({ "applied": applied, "unknown": unknown })).into_response()
}

async fn rotate(State(s): State<StandIn>, headers: HeaderMap) -> Response {
    if let Some(refused) = s.refusal(&headers) {
        return refused;
    }
    Json(issue(&mut s.lock())).into_response()
}
