//! What `quartermaster serve` tells its operator, end to end: spans reach
//! an OTLP/HTTP receiver (in this test, on a loopback port) through the
//! real exporter, Prometheus metrics are served on their own listener and
//! not on the API's, and logs are JSON lines.

#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use sqlx::PgPool;

const BIN: &str = env!("CARGO_BIN_EXE_quartermaster");
const PROTOBUF: &str = "application/x-protobuf";
/// The trace and span of a caller, as its W3C `traceparent` names them.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Every export request the receiver got.
type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// An OTLP/HTTP receiver: `POST /v1/traces` with a protobuf body.
async fn otlp_receiver() -> (SocketAddr, Received) {
    async fn traces(State(received): State<Received>, headers: HeaderMap, body: Bytes) -> Vec<u8> {
        assert_eq!(headers[header::CONTENT_TYPE], PROTOBUF);
        let request = ExportTraceServiceRequest::decode(body).unwrap();
        received.lock().unwrap().push(request);
        ExportTraceServiceResponse::default().encode_to_vec()
    }
    let received = Received::default();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(traces))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

/// Kills the server if the test fails before it could stop it.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The address after `prefix` in the first line of `lines` that has it.
fn address_after(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line with {prefix:?} within 60 s"));
        if let Some((_, rest)) = line.split_once(prefix) {
            return rest.trim().trim_end_matches("/metrics").to_owned();
        }
    }
}

fn string(value: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Any::StringValue(value.to_owned())),
    })
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

#[sqlx::test(migrations = false)]
async fn serve_exports_request_spans_over_otlp_and_serves_metrics_apart_from_the_api(pool: PgPool) {
    let (otlp, received) = otlp_receiver().await;
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--insecure-cookies"])
        .args(["--metrics-listen", "127.0.0.1:0", "--database-url", &url])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .env("OTEL_SERVICE_NAME", "qm-telemetry-test")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "5000")
        .env("RUST_LOG", "info")
        // Not a terminal: logs are JSON unless told otherwise.
        .env_remove("QM_LOG_FORMAT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut running = Running(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let api = address_after(&lines, "listening on ");
    let metrics = address_after(&lines, "Metrics: ");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let signup = client
        .post(format!("{api}/v1/signup"))
        .json(&serde_json::json!({ "email": "ops@example.com", "password": "a long enough password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let organization = format!("{api}/v1/organizations/{}", uuid::Uuid::now_v7());
    // Sent by a caller that traces too: the request's span joins its trace.
    let anonymous = client
        .get(&organization)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let on_api = client.get(format!("{api}/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404, "metrics are not on the API's port");

    let exposition = client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(exposition.status(), 200);
    let text = exposition.text().await.unwrap();
    for line in [
        r#"quartermaster_http_requests_total{method="POST",route="/v1/signup",status="2xx"} 1"#,
        r#"quartermaster_http_requests_total{method="GET",route="/v1/organizations/{org_id}",status="4xx"} 1"#,
        r#"quartermaster_http_requests_total{method="GET",route="unmatched",status="4xx"} 1"#,
        "quartermaster_invoices_closed_total 0",
    ] {
        assert!(
            text.contains(&format!("{line}\n")),
            "missing {line:?} in:\n{text}"
        );
    }

    // SIGTERM: the server drains and sends the spans still buffered.
    let pid = running.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = running.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let logs = logs.join().unwrap();
    assert!(status.success(), "{status}\n{logs}");

    // Logs: one JSON object per line.
    let logs: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        logs.iter()
            .any(|log| log["fields"]["message"] == "exporting spans over OTLP"),
        "{logs:?}"
    );

    // Spans: the request's, named by its route and carrying its status,
    // from this service.
    let received = received.lock().unwrap();
    let resources: Vec<_> = received.iter().flat_map(|r| &r.resource_spans).collect();
    assert!(!resources.is_empty(), "no spans arrived");
    for resource in &resources {
        let attributes = &resource.resource.as_ref().unwrap().attributes;
        assert_eq!(
            attribute(attributes, "service.name"),
            string("qm-telemetry-test").as_ref()
        );
        assert_eq!(
            attribute(attributes, "service.version"),
            string(env!("CARGO_PKG_VERSION")).as_ref()
        );
    }
    let spans: Vec<_> = resources
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"POST /v1/signup"), "{names:?}");
    let request = spans
        .iter()
        .find(|s| s.name == "GET /v1/organizations/{org_id}")
        .unwrap_or_else(|| panic!("no span for the organization request in {names:?}"));
    assert_eq!(request.kind, SpanKind::Server as i32);
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(
        hex(&request.trace_id),
        CALLER_TRACE,
        "in the caller's trace"
    );
    assert_eq!(
        hex(&request.parent_span_id),
        CALLER_SPAN,
        "under the caller's span"
    );
    let signup = spans.iter().find(|s| s.name == "POST /v1/signup").unwrap();
    assert!(
        signup.parent_span_id.is_empty(),
        "a request without one starts a trace"
    );
    assert_eq!(
        attribute(&request.attributes, "http.route"),
        string("/v1/organizations/{org_id}").as_ref()
    );
    assert_eq!(
        attribute(&request.attributes, "http.request.method"),
        string("GET").as_ref()
    );
    assert_eq!(
        attribute(&request.attributes, "http.response.status_code"),
        Some(&AnyValue {
            value: Some(Any::IntValue(401))
        })
    );
}
