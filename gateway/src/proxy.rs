//! One inference request, from the caller's key to the engine's answer:
//! admit, hold for a cold start, forward to the least busy ready pod, and
//! count the tokens the engine reports as the answer passes back.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use crate::Gateway;
use crate::error::GatewayError;
use crate::keys::Admitted;
use crate::pods::{Hold, Lease};
use crate::stream::{self, ClientUsage, Events, Tokens};
use crate::usage::Slot;

/// The header a client shortens its wait for a cold start with, in seconds.
pub const COLD_START_TIMEOUT_HEADER: &str = "x-quartermaster-cold-start-timeout";

/// The caller's key, from `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Result<&str, GatewayError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(GatewayError::MissingKey)
}

/// `GET /v1/models`: the endpoints the caller's key may call.
pub async fn models(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let keys = gateway.keys.get()?;
    let now = Utc::now();
    let key = keys.key(bearer(&headers)?, now)?;
    let data: Vec<Value> = keys
        .models(key, now)
        .into_iter()
        .map(|e| {
            json!({
                "id": format!("{}/{}", e.organization_id, e.name),
                "object": "model",
                "created": 0,
                "owned_by": e.organization_id,
                "root": e.served_model,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "object": "list", "data": data })).into_response())
}

/// `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`.
pub async fn forward(
    State(gateway): State<Arc<Gateway>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "inference",
        path = uri.path(),
        key_id = tracing::field::Empty,
        endpoint = tracing::field::Empty,
        queue_ms = tracing::field::Empty,
        time_to_first_token_ms = tracing::field::Empty,
        input_tokens = tracing::field::Empty,
        output_tokens = tracing::field::Empty,
        outcome = tracing::field::Empty,
    );
    let result = tracing::Instrument::instrument(
        answer(&gateway, uri.path(), &headers, body, started, span.clone()),
        span.clone(),
    )
    .await;
    match result {
        Ok(response) => response,
        Err((endpoint, err)) => {
            span.record("outcome", err.code());
            gateway.metrics.request(endpoint, err.code());
            err.into_response()
        }
    }
}

async fn answer(
    gateway: &Arc<Gateway>,
    path: &str,
    headers: &HeaderMap,
    body: Bytes,
    started: Instant,
    span: tracing::Span,
) -> Result<Response, (String, GatewayError)> {
    let unknown = |err| ("unknown".to_owned(), err);
    let keys = gateway.keys.get().map_err(unknown)?;
    let token = bearer(headers).map_err(unknown)?;
    let now = Utc::now();
    let prepared = stream::prepare(&body, |model| {
        let admitted = keys.admit(token, model, now)?;
        Ok((admitted.endpoint.served_model.clone(), admitted))
    })
    .map_err(unknown)?;
    let Admitted { key, endpoint } = prepared.resolved;
    let label = endpoint.id.to_string();
    span.record("key_id", tracing::field::display(key.id));
    span.record("endpoint", tracing::field::display(endpoint.id));
    let fail = |err| (label.clone(), err);
    gateway
        .limiter
        .admit(
            key.id,
            key.requests_per_minute,
            key.tokens_per_minute,
            now.timestamp_millis(),
        )
        .map_err(fail)?;

    let hold = Hold {
        timeout: cold_start_timeout(headers, endpoint.cold_start_timeout_seconds),
        queue: gateway.queue,
    };
    let queued = Instant::now();
    let depth = |depth| gateway.metrics.queue_depth(&label, depth);
    let lease = gateway
        .pods
        .lease(&endpoint, gateway.waker.as_ref(), hold, &depth)
        .await
        .map_err(fail)?;
    let waited = queued.elapsed();
    gateway.metrics.queued(&label, waited);
    span.record("queue_ms", waited.as_millis());

    let pod = lease.pod();
    let mut request = gateway
        .engines
        .post(format!("{}{path}", pod.base_url))
        .header(header::CONTENT_TYPE, "application/json")
        .body(prepared.body);
    if let Some(engine_key) = &pod.engine_key {
        request = request.bearer_auth(engine_key);
    }
    let forwarded = Instant::now();
    let upstream = request
        .send()
        .await
        .map_err(|e| fail(GatewayError::Upstream(e.to_string())))?;
    let status =
        StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let account = Account {
        gateway: Arc::clone(gateway),
        slot: Slot {
            minute: 0,
            key: key.id,
            organization: key.organization_id,
            endpoint: endpoint.id,
            model: endpoint.served_model.clone(),
        },
        label: label.clone(),
        started,
        forwarded,
        span,
    };
    let streaming = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = match prepared.stream {
        Some(client) if status.is_success() && streaming => Body::from_stream(Relay::new(
            upstream.bytes_stream().boxed(),
            client,
            account,
            lease,
        )),
        _ => {
            let bytes = upstream
                .bytes()
                .await
                .map_err(|e| fail(GatewayError::Upstream(e.to_string())))?;
            account.first_byte();
            let tokens = status
                .is_success()
                .then(|| Tokens::of_answer(&bytes))
                .flatten()
                .unwrap_or_default();
            account.finish(tokens);
            drop(lease);
            Body::from(bytes)
        }
    };
    gateway.metrics.request(
        label,
        if status.is_success() {
            "ok"
        } else {
            "engine_error"
        },
    );
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    if streaming {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    Ok(response)
}

/// The endpoint's cold-start timeout, or less if the client asks for less.
fn cold_start_timeout(headers: &HeaderMap, endpoint_seconds: u32) -> Duration {
    let asked = headers
        .get(COLD_START_TIMEOUT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    Duration::from_secs(u64::from(
        asked.map_or(endpoint_seconds, |a| a.min(endpoint_seconds)),
    ))
}

/// Where one request's tokens go once known.
struct Account {
    gateway: Arc<Gateway>,
    slot: Slot,
    label: String,
    started: Instant,
    forwarded: Instant,
    span: tracing::Span,
}

impl Account {
    fn first_byte(&self) {
        let took = self.started.elapsed();
        self.gateway.metrics.first_token(&self.label, took);
        self.span.record("time_to_first_token_ms", took.as_millis());
    }

    fn finish(&self, tokens: Tokens) {
        let now = Utc::now();
        self.gateway.ledger.record(self.slot.clone(), tokens, now);
        self.gateway
            .limiter
            .spent(self.slot.key, tokens.total(), now.timestamp_millis());
        self.gateway
            .metrics
            .tokens(&self.label, tokens.input, tokens.output);
        self.gateway
            .metrics
            .upstream(&self.label, self.forwarded.elapsed());
        self.span.record("input_tokens", tokens.input);
        self.span.record("output_tokens", tokens.output);
    }
}

/// A stream passed through event by event as the engine sends it; its
/// tokens are counted when it ends, or when the client goes away (what
/// had been sent by then).
struct Relay {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    events: Events,
    client: ClientUsage,
    ready: VecDeque<Bytes>,
    seen: Tokens,
    first: bool,
    done: bool,
    account: Account,
    _lease: Lease,
}

impl Relay {
    fn new(
        upstream: BoxStream<'static, reqwest::Result<Bytes>>,
        client: ClientUsage,
        account: Account,
        lease: Lease,
    ) -> Relay {
        Relay {
            upstream,
            events: Events::default(),
            client,
            ready: VecDeque::new(),
            seen: Tokens::default(),
            first: true,
            done: false,
            account,
            _lease: lease,
        }
    }

    fn accept(&mut self, events: Vec<Bytes>) {
        for event in events {
            if let Some(out) = stream::relay(event, self.client, &mut self.seen) {
                self.ready.push_back(out);
            }
        }
    }
}

impl Stream for Relay {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(bytes) = self.ready.pop_front() {
                if std::mem::take(&mut self.first) {
                    self.account.first_byte();
                }
                return Poll::Ready(Some(Ok(bytes)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match self.upstream.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    let events = self.events.push(&chunk);
                    self.accept(events);
                }
                Poll::Ready(Some(Err(err))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(std::io::Error::other(err))));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    let rest: Vec<Bytes> = self.events.rest().into_iter().collect();
                    self.accept(rest);
                }
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.account.finish(self.seen);
    }
}
