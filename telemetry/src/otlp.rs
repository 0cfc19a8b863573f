//! The span exporter: OTLP over HTTP (protobuf), in batches, every request
//! bounded by the export timeout.

use std::time::Duration;

use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::KeyValue;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::Handle;

use super::Error;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    pub service_name: String,
    pub service_version: &'static str,
    /// The deadline of one export, retries included.
    pub timeout: Duration,
}

pub(crate) fn provider(settings: &Settings, runtime: &Handle) -> Result<SdkTracerProvider, Error> {
    // `https_or_http`: a collector in the cluster usually speaks plain HTTP.
    let connector = HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let client = OnRuntime {
        runtime: runtime.clone(),
        client: HyperClient::new(connector, settings.timeout, None),
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(settings.timeout)
        .build()?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", settings.service_version))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// Sends each export on the application's runtime: the SDK's batch
/// processor calls from a thread of its own, where Hyper cannot run.
#[derive(Debug)]
struct OnRuntime {
    runtime: Handle,
    client: HyperClient<HttpsConnector<HttpConnector>>,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        self.runtime
            .spawn(async move { client.send_bytes(request).await })
            .await?
    }
}
