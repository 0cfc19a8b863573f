//! A vLLM stand-in on loopback, in vLLM's own shapes: `/metrics` in the
//! Prometheus text format with the names and labels of
//! `vllm/v1/metrics/loggers.py` (gauges `vllm:num_requests_running` and
//! `vllm:num_requests_waiting`, counter `vllm:request_success_total`,
//! labelled `engine` and `model_name`), `/health` open, and, as
//! `vllm/entrypoints/openai/api_server.py` does with `--api-key`, every
//! `/v1` route refused with 401 without `Authorization: Bearer <key>`.

use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;

pub const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// What the engine holds: requests running, waiting, and finished.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub running: u32,
    pub waiting: u32,
    pub finished: u64,
}

fn exposition(load: Load) -> String {
    format!(
        "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
         # TYPE vllm:num_requests_running gauge\n\
         vllm:num_requests_running{{engine=\"0\",model_name=\"{MODEL}\"}} {running}.0\n\
         # HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n\
         # TYPE vllm:num_requests_waiting gauge\n\
         vllm:num_requests_waiting{{engine=\"0\",model_name=\"{MODEL}\"}} {waiting}.0\n\
         # HELP vllm:request_success_total Count of successfully processed requests.\n\
         # TYPE vllm:request_success_total counter\n\
         vllm:request_success_total{{engine=\"0\",finished_reason=\"stop\",model_name=\"{MODEL}\"}} {stop}.0\n\
         vllm:request_success_total{{engine=\"0\",finished_reason=\"length\",model_name=\"{MODEL}\"}} {length}.0\n\
         # HELP vllm:request_success_created Count of successfully processed requests.\n\
         # TYPE vllm:request_success_created gauge\n\
         vllm:request_success_created{{engine=\"0\",finished_reason=\"stop\",model_name=\"{MODEL}\"}} 1.7646e+09\n",
        running = load.running,
        waiting = load.waiting,
        stop = load.finished - load.finished / 3,
        length = load.finished / 3,
    )
}

/// Serves one engine with `load` and `api_key`; its base URL.
pub async fn serve(load: Load, api_key: &'static str) -> String {
    let app = axum::Router::new()
        .route("/metrics", get(move || async move { exposition(load) }))
        .route("/health", get(|| async { StatusCode::OK }))
        .route(
            "/v1/models",
            get(move |headers: HeaderMap| async move {
                let expected = format!("Bearer {api_key}");
                if headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some(expected.as_str())
                {
                    (StatusCode::OK, format!("{{\"object\":\"list\",\"data\":[{{\"id\":\"{MODEL}\",\"object\":\"model\"}}]}}"))
                } else {
                    (StatusCode::UNAUTHORIZED, "{\"error\":\"Unauthorized\"}".to_owned())
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}
