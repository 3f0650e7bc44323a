//! Installing the process's `tracing` subscriber: logs, access logs and OTLP trace export.
//!
//! [`init()`] reads the environment once and installs one subscriber made of two layers, each
//! with its own filter:
//!
//! - a log layer (text, or JSON lines) filtered by `RUST_LOG`. It never sees the request spans
//!   of [`SPAN_TARGET`], so logs do not carry them and they cost nothing when nothing else
//!   wants them;
//! - when an OTLP endpoint is configured, an OpenTelemetry layer that takes exactly the
//!   request spans and exports them in batches over OTLP/gRPC.
//!
//! With no OTLP endpoint no layer is interested in the request spans, so `info_span!` hands
//! back a disabled span and tracing a request costs a single check.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider;
use opentelemetry_otlp::{ExporterBuildError, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing::Subscriber;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{Directive, EnvFilter, ParseError, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};
use tracing_subscriber::{Layer, Registry};

use super::trace::SPAN_TARGET;

/// The log filter when `RUST_LOG` is unset: INFO and up, access logs off.
pub const DEFAULT_LOG_FILTER: &str = "info,mesh::access=off";

/// Why [`init`] could not install the subscriber.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `MESH_LOG_FORMAT` names no known format.
    #[error(
        "MESH_LOG_FORMAT={value:?} is not a log format: set it to `text` (the default) or `json`"
    )]
    LogFormat {
        /// The value found.
        value: String,
    },
    /// `RUST_LOG` is not a valid filter.
    #[error(
        "RUST_LOG={value:?} is not a valid log filter ({source}); write it as \
         `info,mesh::access=info`, a comma-separated list of `target=level`"
    )]
    LogFilter {
        /// The value found.
        value: String,
        /// What the parser rejected.
        source: ParseError,
    },
    /// OTLP export was asked for outside a tokio runtime.
    #[error(
        "OTEL_EXPORTER_OTLP_ENDPOINT is set, so telemetry::init must be called inside a tokio \
         runtime (the OTLP/gRPC exporter runs on it): call it from `#[tokio::main] async fn main`"
    )]
    NoRuntime,
    /// The OTLP exporter could not be built from the `OTEL_EXPORTER_OTLP_*` variables.
    #[error(
        "cannot build the OTLP trace exporter for OTEL_EXPORTER_OTLP_ENDPOINT={endpoint:?}: {source}"
    )]
    Exporter {
        /// The endpoint asked for.
        endpoint: String,
        /// What the exporter rejected.
        source: ExporterBuildError,
    },
    /// Another global subscriber is installed already.
    #[error(
        "a global tracing subscriber is installed already; call telemetry::init once, first thing in main: {0}"
    )]
    AlreadyInstalled(#[from] TryInitError),
}

/// Keeps the OTLP exporter alive; on drop, exports the spans still buffered and shuts it down.
///
/// `main` must hold it (`let _telemetry = telemetry::init("my-app")?;`, not `let _ = ...`)
/// until the app ends, and drop it while the tokio runtime still runs (a multi-threaded one:
/// the final export blocks the dropping thread while the runtime sends it).
#[must_use = "dropping the guard shuts the trace exporter down"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "the OTLP trace exporter did not shut down cleanly");
        }
    }
}

/// Installs the global `tracing` subscriber of an app or of mesh-control, from the environment.
///
/// - `RUST_LOG`: the log filter; default [`DEFAULT_LOG_FILTER`]. Access logs
///   (`mesh::access`) are opt-in: `RUST_LOG=info,mesh::access=info`.
/// - `MESH_LOG_FORMAT`: `text` (default) or `json` (one JSON object per line).
/// - `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g. `http://127.0.0.1:4317`): when set, request spans are
///   exported over OTLP/gRPC; the exporter also reads the other standard `OTEL_EXPORTER_OTLP_*`
///   variables. Then this must run inside a tokio runtime.
/// - `OTEL_SERVICE_NAME`: the `service.name` of exported spans, over `service_name`.
///
/// Call once, first thing in `main`, and hold the returned guard until the end.
pub fn init(service_name: &str) -> Result<TelemetryGuard, TelemetryError> {
    let format = log_format(std::env::var("MESH_LOG_FORMAT").ok().as_deref())?;
    let filter = log_filter(std::env::var("RUST_LOG").ok().as_deref())?;
    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let service_name = std::env::var("OTEL_SERVICE_NAME")
                .ok()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| service_name.to_owned());
            Some(otlp_provider(endpoint, service_name)?)
        }
        _ => None,
    };
    let tracer = provider.as_ref().map(|provider| provider.tracer("mesh"));
    let ansi = format == LogFormat::Text && std::io::stdout().is_terminal();
    subscriber(format, filter, ansi, std::io::stdout, tracer).try_init()?;
    Ok(TelemetryGuard { provider })
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Reads `MESH_LOG_FORMAT`: unset or empty is text.
pub(crate) fn log_format(value: Option<&str>) -> Result<LogFormat, TelemetryError> {
    match value.map(str::trim) {
        None | Some("") => Ok(LogFormat::Text),
        Some(value) if value.eq_ignore_ascii_case("text") => Ok(LogFormat::Text),
        Some(value) if value.eq_ignore_ascii_case("json") => Ok(LogFormat::Json),
        Some(value) => Err(TelemetryError::LogFormat {
            value: value.to_owned(),
        }),
    }
}

/// Reads `RUST_LOG` (unset or empty: [`DEFAULT_LOG_FILTER`]) and keeps request spans out.
pub(crate) fn log_filter(value: Option<&str>) -> Result<EnvFilter, TelemetryError> {
    let directives = value
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .unwrap_or(DEFAULT_LOG_FILTER);
    let filter =
        EnvFilter::builder()
            .parse(directives)
            .map_err(|source| TelemetryError::LogFilter {
                value: directives.to_owned(),
                source,
            })?;
    // The most specific directive wins, so this holds whatever RUST_LOG says about `mesh`.
    let no_request_spans: Directive = format!("{SPAN_TARGET}=off")
        .parse()
        .expect("a target and a level form a directive");
    Ok(filter.add_directive(no_request_spans))
}

/// A tracer provider exporting in batches to an OTLP/gRPC `endpoint` (the exporter reads the
/// other `OTEL_EXPORTER_OTLP_*` variables: headers, timeout, compression).
pub(crate) fn otlp_provider(
    endpoint: String,
    service_name: String,
) -> Result<SdkTracerProvider, TelemetryError> {
    // The tonic channel spawns its connection onto the current runtime.
    tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
    let exporter = SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&endpoint)
        .build()
        .map_err(|source| TelemetryError::Exporter { endpoint, source })?;
    let resource = Resource::builder().with_service_name(service_name).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// The subscriber: a log layer writing to `writer`, and an OpenTelemetry layer for the request
/// spans when there is a `tracer`.
pub(crate) fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
    tracer: Option<SdkTracer>,
) -> impl Subscriber + for<'a> LookupSpan<'a> + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let log = tracing_subscriber::fmt::layer().with_writer(writer);
    let log = match format {
        LogFormat::Text => log.with_ansi(ansi).with_filter(filter).boxed(),
        LogFormat::Json => log.json().flatten_event(true).with_filter(filter).boxed(),
    };
    // A list rather than an `Option` layer: a `None` layer counts as interested in everything,
    // which would enable the request spans the log layer filters out.
    let mut layers = vec![log];
    if let Some(tracer) = tracer {
        let spans = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_filter(Targets::new().with_target(SPAN_TARGET, LevelFilter::TRACE));
        layers.push(spans.boxed());
    }
    Registry::default().with(layers)
}
