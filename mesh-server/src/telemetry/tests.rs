use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use mesh_core::identity::PeerIdentity;
use mesh_core::telemetry::{ACCESS_LOG_TARGET, Metrics};
use opentelemetry::trace::{SpanKind, Status as SpanStatus, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tower::ServiceExt;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

const SERVICEA: &str = "spiffe://cluster.local/ns/demo/sa/servicea";

fn remote() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

/// A connection recording in `metrics`, from servicea over mTLS.
fn connection(metrics: &Metrics) -> Connection {
    let peer = PeerIdentity::new(spiffe::SpiffeId::new(SERVICEA).unwrap());
    Connection::new(
        Some(&ServerMetrics::of(metrics)),
        remote(),
        true,
        Some(peer),
    )
}

fn assert_has(metrics: &Metrics, line: &str) {
    let text = metrics.render_openmetrics();
    assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
}

fn grpc_request() -> Request<()> {
    Request::post("/demo.ServiceB/Get")
        .header(CONTENT_TYPE, "application/grpc")
        .body(())
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_http_request_is_counted_and_timed_when_its_body_ends() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("hi"))))
    });
    let service = Telemetry::new(app, connection(&metrics));
    let response = service
        .oneshot(Request::get("/hello").body(()).unwrap())
        .await
        .unwrap();
    assert_has(&metrics, "mesh_server_requests_in_flight 1");
    assert!(
        !metrics
            .render_openmetrics()
            .contains("mesh_server_requests_total{")
    );

    response.into_body().collect().await.unwrap();
    assert_has(&metrics, "mesh_server_requests_in_flight 0");
    assert_has(
        &metrics,
        &format!(
            "mesh_server_requests_total{{protocol=\"http\",method=\"GET\",peer=\"{SERVICEA}\",status=\"200\"}} 1"
        ),
    );
    assert_has(
        &metrics,
        "mesh_server_request_duration_seconds_sum{protocol=\"http\",method=\"GET\",status=\"200\"} 0.25",
    );
    assert_has(
        &metrics,
        "mesh_server_connections_total{tls=\"true\",result=\"accepted\"} 1",
    );
}

#[tokio::test]
async fn a_grpc_status_is_read_from_the_trailers() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("5"));
        let frames = vec![
            Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
            Ok(Frame::trailers(trailers)),
        ];
        Ok::<_, Infallible>(Response::new(StreamBody::new(stream::iter(frames))))
    });
    let service = Telemetry::new(app, connection(&metrics));
    let response = service.oneshot(grpc_request()).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert_has(
        &metrics,
        &format!(
            "mesh_server_requests_total{{protocol=\"grpc\",method=\"/demo.ServiceB/Get\",peer=\"{SERVICEA}\",status=\"5\"}} 1"
        ),
    );
}

#[tokio::test]
async fn a_grpc_response_dropped_before_its_end_is_cancelled() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        let frames = vec![Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"x")))];
        Ok::<_, Infallible>(Response::new(StreamBody::new(stream::iter(frames))))
    });
    let service = Telemetry::new(app, connection(&metrics));
    let response = service.oneshot(grpc_request()).await.unwrap();
    drop(response);
    assert_has(&metrics, "mesh_server_requests_in_flight 0");
    assert_has(
        &metrics,
        "mesh_server_request_duration_seconds_count{protocol=\"grpc\",method=\"other\",status=\"1\"} 1",
    );
}

#[tokio::test]
async fn a_trailers_only_grpc_refusal_ends_with_its_head() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        let response = Response::builder()
            .header(CONTENT_TYPE, "application/grpc")
            .header("grpc-status", "7")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = Telemetry::new(app, connection(&metrics));
    // The body is kept, not polled: hyper does not poll a body that is already at its end.
    let _response = service.oneshot(grpc_request()).await.unwrap();
    assert_has(&metrics, "mesh_server_requests_in_flight 0");
    assert_has(
        &metrics,
        "mesh_server_request_duration_seconds_count{protocol=\"grpc\",method=\"other\",status=\"7\"} 1",
    );
}

#[tokio::test]
async fn an_application_error_is_status_error() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("broken"))
    });
    let service = Telemetry::new(app, connection(&metrics));
    assert!(service.oneshot(grpc_request()).await.is_err());
    assert_has(&metrics, "mesh_server_requests_in_flight 0");
    assert_has(
        &metrics,
        &format!(
            "mesh_server_requests_total{{protocol=\"grpc\",method=\"other\",peer=\"{SERVICEA}\",status=\"error\"}} 1"
        ),
    );
}

#[test]
fn without_metrics_or_a_subscriber_there_is_no_record() {
    let connection = Arc::new(Connection::new(None, remote(), false, None));
    let request = Request::get("/hello").body(()).unwrap();
    assert!(Record::start(&connection, &request, tracing::Span::none()).is_none());
    let metrics = Metrics::new();
    let counted = Arc::new(Connection::new(
        Some(&ServerMetrics::of(&metrics)),
        remote(),
        false,
        None,
    ));
    assert!(Record::start(&counted, &request, tracing::Span::none()).is_some());
}

#[tokio::test]
async fn a_call_abandoned_before_its_response_is_cancelled_or_an_error() {
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        std::future::pending::<()>().await;
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
    });
    let service = Telemetry::new(app, connection(&metrics));
    for request in [grpc_request(), Request::get("/hello").body(()).unwrap()] {
        let mut call = std::pin::pin!(service.clone().oneshot(request));
        assert!(futures_util::poll!(call.as_mut()).is_pending());
    }
    assert_has(&metrics, "mesh_server_requests_in_flight 0");
    let count = |protocol: &str, method: &str, status: &str| {
        format!(
            "mesh_server_request_duration_seconds_count{{protocol=\"{protocol}\",method=\"{method}\",status=\"{status}\"}} 1"
        )
    };
    assert_has(&metrics, &count("grpc", "other", "1"));
    assert_has(&metrics, &count("http", "GET", "error"));
}

/// The `trace_id` fields of the access-log events seen.
#[derive(Clone, Default)]
struct TraceIds(Arc<std::sync::Mutex<Vec<String>>>);

impl Visit for TraceIds {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "trace_id" {
            self.0.lock().unwrap().push(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for TraceIds {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == ACCESS_LOG_TARGET {
            event.record(&mut self.clone());
        }
    }
}

#[tokio::test]
async fn a_recorded_span_is_a_failed_server_span_in_the_callers_trace_named_by_the_log() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let logged = TraceIds::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(logged.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        let response = Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Full::new(Bytes::from("busy")))
            .unwrap();
        Ok::<_, Infallible>(response)
    });
    let service = Telemetry::new(app, connection(&metrics));
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let request = Request::get("/busy")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    let [span] = spans.as_slice() else {
        panic!("one span expected: {spans:?}");
    };
    assert_eq!(span.name, "mesh.server");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert!(
        matches!(span.status, SpanStatus::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(span.span_context.trace_id().to_string(), trace);
    assert_eq!(*logged.0.lock().unwrap(), [trace]);
    assert_has(
        &metrics,
        &format!(
            "mesh_server_requests_total{{protocol=\"http\",method=\"GET\",peer=\"{SERVICEA}\",status=\"503\"}} 1"
        ),
    );
}

/// How many access-log events were seen.
#[derive(Clone, Default)]
struct AccessLogs(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AccessLogs {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == ACCESS_LOG_TARGET {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

#[tokio::test]
async fn an_unsampled_caller_s_request_opens_no_span_but_is_logged_and_counted() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let logs = AccessLogs::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(logs.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let metrics = Metrics::new();
    let app = tower::service_fn(|_: Request<()>| async {
        assert!(Span::current().is_none(), "the handler runs in no span");
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok"))))
    });
    let service = Telemetry::new(app, connection(&metrics));
    let request = Request::get("/quiet")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    response.into_body().collect().await.unwrap();

    let spans = exporter.get_finished_spans().unwrap();
    assert!(spans.is_empty(), "no span expected: {spans:?}");
    assert_eq!(logs.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_has(
        &metrics,
        &format!(
            "mesh_server_requests_total{{protocol=\"http\",method=\"GET\",peer=\"{SERVICEA}\",status=\"200\"}} 1"
        ),
    );
}
