//! Tests of the subscriber [`super::init`] installs, run under a scoped dispatcher.

use std::io;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanId, TraceId, TracerProvider};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::fmt::MakeWriter;

use super::init::{LogFormat, log_filter, log_format, otlp_provider, subscriber};
use super::trace::{SPAN_TARGET, inject, set_parent};
use super::{ACCESS_LOG_TARGET, TelemetryError};

/// Log output kept in memory.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Output {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl io::Write for Output {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Output {
    type Writer = Output;

    fn make_writer(&self) -> Output {
        self.clone()
    }
}

/// Exported spans kept in memory (the SDK's own needs its `testing` feature).
#[derive(Clone, Debug, Default)]
struct Exported(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Exported {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

fn logs(format: LogFormat, rust_log: Option<&str>, emit: impl FnOnce()) -> String {
    let output = Output::default();
    let filter = log_filter(rust_log).unwrap();
    let subscriber = subscriber(format, filter, false, output.clone(), None);
    tracing::subscriber::with_default(subscriber, emit);
    output.text()
}

#[test]
fn log_format_is_text_unless_json_is_asked_for() {
    assert_eq!(log_format(None).unwrap(), LogFormat::Text);
    assert_eq!(log_format(Some("")).unwrap(), LogFormat::Text);
    assert_eq!(log_format(Some("text")).unwrap(), LogFormat::Text);
    assert_eq!(log_format(Some("JSON")).unwrap(), LogFormat::Json);
    let error = log_format(Some("yaml")).unwrap_err();
    assert!(matches!(error, TelemetryError::LogFormat { .. }));
    let message = error.to_string();
    assert!(message.contains("MESH_LOG_FORMAT=\"yaml\""), "{message}");
    assert!(
        message.contains("`text`") && message.contains("`json`"),
        "{message}"
    );
}

#[test]
fn a_bad_rust_log_is_an_error_naming_it() {
    let error = log_filter(Some("info,mesh=loud")).unwrap_err();
    assert!(
        error.to_string().contains("RUST_LOG=\"info,mesh=loud\""),
        "{error}"
    );
}

#[test]
fn access_logs_are_off_by_default_and_on_when_asked_for() {
    let emit = || {
        tracing::info!(target: ACCESS_LOG_TARGET, status = 200, "request");
        tracing::info!("started");
    };
    let default = logs(LogFormat::Text, None, emit);
    assert!(default.contains("started"), "{default}");
    assert!(!default.contains("status=200"), "{default}");
    let opted_in = logs(LogFormat::Text, Some("info,mesh::access=info"), emit);
    assert!(opted_in.contains("status=200"), "{opted_in}");
}

#[test]
fn json_format_writes_one_object_per_line() {
    let output = logs(LogFormat::Json, None, || {
        tracing::info!(port = 15000, "listening");
    });
    let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(line["message"], "listening", "{output}");
    assert_eq!(line["port"], 15000, "{output}");
    assert_eq!(line["level"], "INFO", "{output}");
}

#[test]
fn without_otlp_request_spans_are_disabled_even_when_rust_log_asks() {
    logs(LogFormat::Text, Some("trace"), || {
        let span = tracing::info_span!(target: SPAN_TARGET, "mesh.client");
        assert!(span.is_disabled());
    });
}

#[test]
fn request_spans_go_to_the_exporter_and_not_to_the_logs() {
    let exported = Exported::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exported.clone())
        .build();
    let output = Output::default();
    let filter = log_filter(None).unwrap();
    let tracer = Some(provider.tracer("test"));
    let subscriber = subscriber(LogFormat::Text, filter, false, output.clone(), tracer);
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", caller.parse().unwrap());
    let mut outgoing = http::HeaderMap::new();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(target: SPAN_TARGET, "mesh.server", method = "GET");
        set_parent(&span, &headers);
        span.in_scope(|| {
            tracing::info!("handling");
            let client = tracing::info_span!(target: SPAN_TARGET, "mesh.client");
            inject(&client, &mut outgoing);
        });
        tracing::info_span!("app.work").in_scope(|| {});
    });

    let spans = exported.0.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
    assert_eq!(names, ["mesh.client", "mesh.server"]);
    let caller_trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let server = &spans[1];
    assert_eq!(server.span_context.trace_id(), caller_trace);
    assert_eq!(
        server.parent_span_id,
        SpanId::from_hex("00f067aa0ba902b7").unwrap()
    );
    let client = &spans[0];
    assert_eq!(client.parent_span_id, server.span_context.span_id());
    let traceparent = outgoing["traceparent"].to_str().unwrap();
    let expected = format!("00-{caller_trace}-{}-01", client.span_context.span_id());
    assert_eq!(traceparent, expected);

    let logs = output.text();
    assert!(logs.contains("handling"), "{logs}");
    assert!(!logs.contains("mesh.server"), "{logs}");
}

#[test]
fn otlp_export_needs_a_tokio_runtime() {
    let error = otlp_provider("http://127.0.0.1:4317".into(), "app".into()).unwrap_err();
    assert!(matches!(error, TelemetryError::NoRuntime));
    assert!(error.to_string().contains("tokio runtime"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otlp_provider_builds_and_shuts_down_inside_a_runtime() {
    // The exporter connects lazily; with no span recorded, shutting down sends nothing.
    let provider = otlp_provider("http://127.0.0.1:4317".into(), "app".into()).unwrap();
    provider.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_otlp_endpoint_is_an_error_naming_it() {
    let error = otlp_provider("not a uri".into(), "app".into()).unwrap_err();
    assert!(matches!(error, TelemetryError::Exporter { .. }), "{error}");
    assert!(error.to_string().contains("\"not a uri\""), "{error}");
}
