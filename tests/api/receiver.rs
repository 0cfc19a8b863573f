//! A webhook receiver on a loopback port that does what the README tells a
//! customer's receiver to do: it checks `Quartermaster-Signature` with the
//! secrets it trusts (refusing with 400 what none of them signed) and keeps
//! each event it accepts. It can be taken down (answers 503) and back up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Utc;
use serde_json::Value;

#[derive(Debug, Default)]
struct Inner {
    secrets: Mutex<Vec<String>>,
    down: AtomicBool,
    accepted: Mutex<Vec<Value>>,
    refused: Mutex<usize>,
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if inner.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let signature = header("quartermaster-signature");
    let trusted = inner.secrets.lock().unwrap().clone();
    let verified = trusted.iter().any(|secret| {
        billing::payments::webhook::verify(secret, signature, &body, Utc::now()).is_ok()
    });
    if !verified {
        *inner.refused.lock().unwrap() += 1;
        return StatusCode::BAD_REQUEST;
    }
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        header("quartermaster-event-id"),
        event["id"].as_str().unwrap(),
        "the header names the event in the body"
    );
    assert_eq!(header("content-type"), "application/json");
    inner.accepted.lock().unwrap().push(event);
    StatusCode::NO_CONTENT
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, inner }
    }

    /// Accepts what `secrets` signed, and nothing else.
    pub fn trust(&self, secrets: &[&str]) {
        *self.inner.secrets.lock().unwrap() = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    pub fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// The events accepted, in the order they arrived.
    pub fn events(&self) -> Vec<Value> {
        self.inner.accepted.lock().unwrap().clone()
    }

    /// The types of the events accepted, in order.
    pub fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// How many deliveries no trusted secret had signed.
    pub fn refused(&self) -> usize {
        *self.inner.refused.lock().unwrap()
    }
}
