//! A stand-in for Stripe on 127.0.0.1: it records every request exactly as
//! it arrived and answers from a list of canned, Stripe-shaped answers.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::objects::stripe_error;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    pub(crate) method: String,
    pub(crate) path: String,
    /// Query and form parameters, decoded (`metadata[number]`), sorted.
    pub(crate) params: Vec<(String, String)>,
    pub(crate) idempotency_key: Option<String>,
    pub(crate) authorization: Option<String>,
}

/// The answer to the next request with this method and path.
#[derive(Debug)]
pub(crate) struct Canned {
    method: &'static str,
    path: String,
    status: StatusCode,
    body: Value,
}

pub(crate) fn answer(method: &'static str, path: &str, status: u16, body: Value) -> Canned {
    Canned {
        method,
        path: path.to_owned(),
        status: StatusCode::from_u16(status).unwrap(),
        body,
    }
}

/// Everything the server received, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded(Arc<Mutex<Vec<Received>>>);

impl Recorded {
    pub(crate) fn requests(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }
}

/// A stand-in for Stripe: answers each request with the first canned answer
/// for its method and path (a 404 Stripe error when there is none left).
#[derive(Debug)]
pub(crate) struct Loopback {
    answers: Mutex<VecDeque<Canned>>,
    recorded: Recorded,
}

impl Loopback {
    /// Serves `answers` on 127.0.0.1; returns the API base and the record.
    pub(crate) async fn start(answers: Vec<Canned>) -> (String, Recorded) {
        let recorded = Recorded::default();
        let server = Arc::new(Loopback {
            answers: Mutex::new(answers.into()),
            recorded: recorded.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let app = Router::new().fallback(Loopback::handle).with_state(server);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (base, recorded)
    }

    async fn handle(
        State(server): State<Arc<Loopback>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let header = |name: &str| {
            headers
                .get(name)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        let mut params = decode(uri.query().unwrap_or_default().as_bytes());
        params.extend(decode(&body));
        params.sort();
        server.recorded.0.lock().unwrap().push(Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            params,
            idempotency_key: header("idempotency-key"),
            authorization: header("authorization"),
        });
        let mut answers = server.answers.lock().unwrap();
        let next = answers
            .iter()
            .position(|a| a.method == method.as_str() && a.path == uri.path());
        match next.and_then(|i| answers.remove(i)) {
            Some(canned) => (canned.status, Json(canned.body)).into_response(),
            None => (
                StatusCode::NOT_FOUND,
                Json(stripe_error(
                    "invalid_request_error",
                    "resource_missing",
                    &format!("Unrecognized request URL ({method}: {})", uri.path()),
                )),
            )
                .into_response(),
        }
    }
}

/// `application/x-www-form-urlencoded` into (key, value) pairs:
/// `metadata%5Bnumber%5D=QM-000001` is `("metadata[number]", "QM-000001")`.
pub(crate) fn decode(form: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(form).into_owned().collect()
}
