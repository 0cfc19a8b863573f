//! The Prometheus endpoint: `GET /metrics` in the OpenMetrics text format,
//! on a listener of its own so that it is never published with a public
//! API, and `GET /healthz` for probes.
//!
//! Each part of a binary owns its metric families and registers them into
//! one [`Registry`], which is handed here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry in the text exposition format.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// Listens on `listen` and serves `registry` from a task of its own, for
/// as long as the process runs; returns the address it listens on.
pub async fn serve(listen: SocketAddr, registry: Registry) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let address = listener.local_addr()?;
    let registry = Arc::new(registry);
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || async move { exposition(&registry) }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the metrics endpoint stopped");
        }
    });
    Ok(address)
}

fn exposition(registry: &Registry) -> Response {
    match render(registry) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[tokio::test]
    async fn the_endpoint_serves_the_registry_and_a_health_check() {
        let mut registry = Registry::with_prefix("test");
        let counter = Counter::<u64>::default();
        registry.register("things", "Things seen", counter.clone());
        counter.inc_by(3);
        let address = serve("127.0.0.1:0".parse().unwrap(), registry)
            .await
            .unwrap();

        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap();
        let metrics = client
            .get(format!("http://{address}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        assert_eq!(metrics.headers()["content-type"], CONTENT_TYPE);
        let text = metrics.text().await.unwrap();
        assert!(text.contains("test_things_total 3\n"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        let health = client
            .get(format!("http://{address}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    }
}
