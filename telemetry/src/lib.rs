//! What every Quartermaster binary tells its operator about itself: logs on
//! stderr, spans exported over OTLP, and a Prometheus endpoint.
//!
//! A binary calls [`init`] before anything else and keeps the [`Telemetry`]
//! it returns until it exits: dropping it sends the spans still buffered.
//! Configuration comes from the environment only:
//!
//! - `RUST_LOG`: the filter, for logs and exported spans alike (default
//!   `info,sqlx=warn`);
//! - `QM_LOG_FORMAT`: `json` (one object per line) or `text`; by default text
//!   at a terminal and JSON anywhere else, so that a container logs JSON;
//! - `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`):
//!   export spans over OTLP/HTTP (protobuf) there; unset, nothing is
//!   exported. The exporter's other `OTEL_EXPORTER_OTLP_*` variables
//!   (headers, timeout in milliseconds) apply, and `OTEL_SERVICE_NAME`
//!   replaces the binary's name as `service.name`.
//!
//! It knows nothing of the domain: which metrics exist is each binary's
//! business ([`metrics`] only serves them). Both binaries,
//! `quartermaster-operator` and the root `quartermaster`, depend on it, and
//! it on no crate of theirs.

pub mod metrics;
mod otlp;

use std::io::IsTerminal;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The filter without `RUST_LOG`: info, but not every SQL statement.
const DEFAULT_FILTER: &str = "info,sqlx=warn";
/// How long one export may take without `OTEL_EXPORTER_OTLP_TIMEOUT`.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The binary, as spans name it: `service.name` (unless
/// `OTEL_SERVICE_NAME` is set) and `service.version`.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub name: &'static str,
    pub version: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("QM_LOG_FORMAT must be `json` or `text`, not `{0}`")]
    LogFormat(String),
    #[error("{variable} must be a number of milliseconds, not `{value}`")]
    Timeout {
        variable: &'static str,
        value: String,
    },
    #[error(
        "{variable} is `{value}`, but spans are exported over OTLP/HTTP only: set it to `http/protobuf` or leave it out"
    )]
    Protocol {
        variable: &'static str,
        value: String,
    },
    #[error("RUST_LOG is not a valid filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("setting up the OTLP span exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("logging was already set up: {0}")]
    AlreadyInitialized(#[from] tracing_subscriber::util::TryInitError),
}

/// Keeps spans flowing to the OTLP endpoint; dropping it sends those still
/// buffered (waiting at most the export timeout) and stops the export.
#[must_use = "dropping it stops the export of spans"]
#[derive(Debug)]
pub struct Telemetry {
    export: Option<(SdkTracerProvider, Duration)>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some((provider, timeout)) = self.export.take()
            && let Err(err) = provider.shutdown_with_timeout(timeout)
        {
            tracing::warn!(error = %err, "sending the last spans failed");
        }
    }
}

/// Sets up logging and, when asked for, span export. Exports run on
/// `runtime`, which must be a multi-threaded runtime that outlives the
/// returned [`Telemetry`].
pub fn init(service: Service, runtime: &tokio::runtime::Handle) -> Result<Telemetry, Error> {
    let settings = Settings::read(environment, service, std::io::stderr().is_terminal())?;
    let filter = EnvFilter::try_new(&settings.filter)?;
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match settings.format {
        LogFormat::Json => logs.json().boxed(),
        LogFormat::Text => logs.boxed(),
    };
    let export = settings
        .export
        .as_ref()
        .map(|export| otlp::provider(export, runtime).map(|provider| (provider, export.timeout)))
        .transpose()?;
    let spans = export.as_ref().map(|(provider, _)| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(service.name))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init()?;
    if let Some(export) = &settings.export {
        tracing::info!(service.name = %export.service_name, "exporting spans over OTLP");
    }
    Ok(Telemetry { export })
}

/// A variable of the process environment; empty counts as unset, as Helm
/// renders an unset value.
fn environment(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

/// What the environment asks for.
#[derive(Debug, PartialEq)]
struct Settings {
    filter: String,
    format: LogFormat,
    /// `None`: spans are not exported.
    export: Option<otlp::Settings>,
}

impl Settings {
    fn read(
        var: impl Fn(&str) -> Option<String>,
        service: Service,
        terminal: bool,
    ) -> Result<Settings, Error> {
        let format = match var("QM_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => return Err(Error::LogFormat(other.to_owned())),
            None if terminal => LogFormat::Text,
            None => LogFormat::Json,
        };
        let wanted = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
            || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some();
        let export = if wanted {
            check_protocol(&var)?;
            Some(otlp::Settings {
                service_name: var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.name.to_owned()),
                service_version: service.version,
                timeout: export_timeout(&var)?,
            })
        } else {
            None
        };
        Ok(Settings {
            filter: var("RUST_LOG").unwrap_or_else(|| DEFAULT_FILTER.to_owned()),
            format,
            export,
        })
    }
}

/// Only OTLP/HTTP with protobuf is built in: asking for gRPC (the
/// exporter's other protocol) is refused rather than silently ignored.
fn check_protocol(var: &impl Fn(&str) -> Option<String>) -> Result<(), Error> {
    for variable in [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ] {
        match var(variable) {
            Some(value) if value.trim() != "http/protobuf" => {
                return Err(Error::Protocol { variable, value });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The exporter's own precedence: the traces variable, then the general one.
fn export_timeout(var: &impl Fn(&str) -> Option<String>) -> Result<Duration, Error> {
    for variable in [
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ] {
        if let Some(value) = var(variable) {
            return value
                .trim()
                .parse()
                .map(Duration::from_millis)
                .map_err(|_| Error::Timeout { variable, value });
        }
    }
    Ok(DEFAULT_EXPORT_TIMEOUT)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SERVICE: Service = Service {
        name: "quartermaster",
        version: "1.2.3",
    };

    fn read(vars: &[(&str, &str)], terminal: bool) -> Result<Settings, Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::read(|name| vars.get(name).cloned(), SERVICE, terminal)
    }

    #[test]
    fn logs_are_text_at_a_terminal_and_json_elsewhere_unless_told() {
        assert_eq!(read(&[], true).unwrap().format, LogFormat::Text);
        assert_eq!(read(&[], false).unwrap().format, LogFormat::Json);
        let json = read(&[("QM_LOG_FORMAT", "json")], true).unwrap();
        assert_eq!(json.format, LogFormat::Json);
        let text = read(&[("QM_LOG_FORMAT", "text")], false).unwrap();
        assert_eq!(text.format, LogFormat::Text);
    }

    #[test]
    fn an_unknown_log_format_is_refused() {
        let err = read(&[("QM_LOG_FORMAT", "yaml")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "QM_LOG_FORMAT must be `json` or `text`, not `yaml`"
        );
    }

    #[test]
    fn rust_log_replaces_the_default_filter() {
        assert_eq!(read(&[], false).unwrap().filter, DEFAULT_FILTER);
        let settings = read(&[("RUST_LOG", "debug")], false).unwrap();
        assert_eq!(settings.filter, "debug");
    }

    #[test]
    fn spans_are_exported_only_with_an_endpoint() {
        assert_eq!(read(&[], false).unwrap().export, None);
        let general = read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")], false).unwrap();
        assert_eq!(
            general.export,
            Some(otlp::Settings {
                service_name: "quartermaster".to_owned(),
                service_version: "1.2.3",
                timeout: DEFAULT_EXPORT_TIMEOUT,
            })
        );
        let traces = read(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c")], false).unwrap();
        assert!(traces.export.is_some());
    }

    #[test]
    fn otel_service_name_replaces_the_binary_name() {
        let settings = read(
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_SERVICE_NAME", "qm-eu"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(settings.export.unwrap().service_name, "qm-eu");
    }

    #[test]
    fn the_export_timeout_is_read_in_milliseconds_traces_first() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        let timeout = |vars: &[(&str, &str)]| read(vars, false).map(|s| s.export.unwrap().timeout);
        assert_eq!(
            timeout(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500")]).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(
            timeout(&[
                endpoint,
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "700"),
            ])
            .unwrap(),
            Duration::from_millis(700)
        );
        let err = timeout(&[endpoint, ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_TIMEOUT must be a number of milliseconds, not `10s`"
        );
    }

    #[test]
    fn a_protocol_other_than_otlp_over_http_is_refused_by_name() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
        assert!(
            read(
                &[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
                false
            )
            .is_ok()
        );
        let err = read(&[endpoint, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], false).unwrap_err();
        assert_eq!(
            err.to_string(),
            "OTEL_EXPORTER_OTLP_PROTOCOL is `grpc`, but spans are exported over OTLP/HTTP only: \
             set it to `http/protobuf` or leave it out"
        );
        // Without an endpoint nothing is exported, so nothing is refused.
        assert!(read(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")], false).is_ok());
    }
}
