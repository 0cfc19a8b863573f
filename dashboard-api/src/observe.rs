//! What the API tells its operator: a span per request and Prometheus
//! metrics of requests and of ingested usage events.
//!
//! Requests are labelled by the route template they matched
//! (`/v1/organizations/{org_id}`), never by the raw path, and methods and
//! statuses by a fixed set of values, so that the label sets stay bounded.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{self, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Span;
use tracing::field::Empty;

/// The route of a request that matched none.
const UNMATCHED: &str = "unmatched";
/// Method labels; any other method counts as `other`.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    /// The status class: `2xx`, `4xx`, …
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    /// `accepted`, `duplicate` (stored before) or `rejected`.
    outcome: &'static str,
}

type Latencies = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// The API's metric families; [`ApiMetrics::register`] exposes them.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Latencies,
    usage_events: Family<EventLabels, Counter>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            // 1 ms to about 33 s.
            latency: Latencies::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            usage_events: Family::default(),
        }
    }
}

impl ApiMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by method, route template and status class",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "How long HTTP requests took, by method, route template and status class",
            self.latency.clone(),
        );
        registry.register(
            "usage_events",
            "Usage events received from data planes, by outcome",
            self.usage_events.clone(),
        );
    }

    /// Counts the events of one ingested batch.
    pub(crate) fn ingested(
        &self,
        accepted: usize,
        duplicates: usize,
        rejected: usize,
        conflicts: usize,
    ) {
        for (outcome, count) in [
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
            ("conflict", conflicts),
        ] {
            self.usage_events
                .get_or_create(&EventLabels { outcome })
                .inc_by(count as u64);
        }
    }
}

/// Middleware: counts and times each request.
pub(crate) async fn track(
    State(metrics): State<ApiMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let method = METHODS
        .into_iter()
        .find(|known| *known == request.method().as_str())
        .unwrap_or("other");
    let route = route(&request).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RequestLabels {
        method,
        route,
        status: status_class(response.status()),
    };
    metrics.requests.get_or_create(&labels).inc();
    metrics
        .latency
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The span of a request, named as OpenTelemetry names HTTP server spans
/// (`GET /v1/organizations/{org_id}`), in the caller's trace when it sent
/// one. The query string is left out: it may carry a checkout session or a
/// token.
pub(crate) fn request_span(request: &http::Request<Body>) -> Span {
    let route = route(request);
    let span = tracing::info_span!(
        "http request",
        otel.name = format!("{} {route}", request.method()),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %request.method(),
        http.route = route,
        url.path = request.uri().path(),
        http.response.status_code = Empty,
    );
    continue_trace(&span, request.headers());
    span
}

/// Makes `span` a child of the trace its caller propagated in `headers`
/// (W3C `traceparent` and `tracestate`), so that a request's spans join the
/// trace of whoever sent it. Without such headers, or without span export,
/// `span` stays as it is.
fn continue_trace(span: &tracing::Span, headers: &http::HeaderMap) {
    use opentelemetry::propagation::TextMapPropagator;
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .extract(&opentelemetry_http::HeaderExtractor(headers));
    if parent.span().span_context().is_valid() {
        // Fails only where no span is exported: nothing to join then.
        let _ = span.set_parent(parent);
    }
}

/// Completes the request's span with its status.
pub(crate) fn record_response(response: &http::Response<Body>, _latency: Duration, span: &Span) {
    // As i64: tracing-opentelemetry would turn a u64 into a string.
    span.record(
        "http.response.status_code",
        i64::from(response.status().as_u16()),
    );
    if response.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
}

fn route<B>(request: &http::Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
