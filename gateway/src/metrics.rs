//! The gateway's Prometheus metrics, by endpoint. Label values come from
//! closed sets: an endpoint id the key set lists (else `unknown`), a
//! refusal's stable code, `input`/`output`.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Request {
    pub endpoint: String,
    /// `ok`, or the refusal's code (`invalid_api_key`, `requests_per_minute`, …).
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    endpoint: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Endpoint {
    endpoint: String,
}

type Seconds = Family<Endpoint, Histogram, fn() -> Histogram>;

#[derive(Debug, Clone)]
pub struct Metrics {
    requests: Family<Request, Counter>,
    tokens: Family<TokenLabels, Counter>,
    queue_depth: Family<Endpoint, Gauge>,
    first_token: Seconds,
    upstream: Seconds,
    queued: Seconds,
    key_set_age: Gauge<f64, AtomicU64>,
}

fn seconds() -> Histogram {
    // 1 ms to about 16 min: a loopback answer to a cold start.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Family::default(),
            tokens: Family::default(),
            queue_depth: Family::default(),
            first_token: Seconds::new_with_constructor(seconds),
            upstream: Seconds::new_with_constructor(seconds),
            queued: Seconds::new_with_constructor(seconds),
            key_set_age: Gauge::default(),
        }
    }
}

impl Metrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "requests",
            "Requests by endpoint and outcome",
            self.requests.clone(),
        );
        registry.register(
            "tokens",
            "Tokens by endpoint and direction (input, output)",
            self.tokens.clone(),
        );
        registry.register(
            "queue_depth",
            "Requests held for an endpoint waking from zero",
            self.queue_depth.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "From the request to the first byte of the answer",
            self.first_token.clone(),
        );
        registry.register(
            "upstream_latency_seconds",
            "From forwarding to the engine's whole answer",
            self.upstream.clone(),
        );
        registry.register(
            "queue_seconds",
            "How long requests were held for a cold start",
            self.queued.clone(),
        );
        registry.register(
            "key_set_age_seconds",
            "Since the control plane last answered for the key set; -1 before it ever did. Past the staleness bound every request is refused",
            self.key_set_age.clone(),
        );
    }

    pub fn request(&self, endpoint: String, outcome: &'static str) {
        self.requests
            .get_or_create(&Request { endpoint, outcome })
            .inc();
    }

    pub fn tokens(&self, endpoint: &str, input: u64, output: u64) {
        for (direction, n) in [("input", input), ("output", output)] {
            self.tokens
                .get_or_create(&TokenLabels {
                    endpoint: endpoint.to_owned(),
                    direction,
                })
                .inc_by(n);
        }
    }

    pub fn queue_depth(&self, endpoint: &str, depth: usize) {
        self.queue_depth
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_owned(),
            })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    pub fn first_token(&self, endpoint: &str, took: Duration) {
        self.first_token
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn upstream(&self, endpoint: &str, took: Duration) {
        self.upstream
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn queued(&self, endpoint: &str, took: Duration) {
        self.queued
            .get_or_create(&Endpoint {
                endpoint: endpoint.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn key_set_age(&self, age: Option<Duration>) {
        self.key_set_age.set(age.map_or(-1.0, |a| a.as_secs_f64()));
    }
}
