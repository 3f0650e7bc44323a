//! The server's telemetry over real sockets: metric families moved exactly by allowed, denied
//! and rate-limited calls (policies from a fake ADS, real mTLS callers), access-log events,
//! and server spans joining the caller's trace.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::get as route_get;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::model::{
    Authorization, AuthzAction, AuthzRule, InboundTls, Listener, LocalRateLimit, Principal,
    RouteSource, ServerListener, StringMatch,
};
use mesh_core::telemetry::{ACCESS_LOG_TARGET, Metrics};
use mesh_server::MeshServer;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use support::ads::{FakeAds, World};
use support::app::{GET, router};
use support::calls::{Via, get, grpc};
use support::certs::{TestCa, spiffe_id};
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// The access-log events seen, each as its fields.
#[derive(Clone, Default)]
struct AccessLogs(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl AccessLogs {
    fn events(&self) -> Vec<BTreeMap<String, String>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AccessLogs {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == ACCESS_LOG_TARGET {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(fields);
        }
    }
}

/// Installs, for this (current-thread) test, a subscriber recording the access log and
/// exporting the mesh's spans to memory.
fn subscribe() -> (
    AccessLogs,
    InMemorySpanExporter,
    tracing::subscriber::DefaultGuard,
) {
    let logs = AccessLogs::default();
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(logs.clone())
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(Targets::new().with_target("mesh", tracing::Level::INFO));
    (logs, exporter, tracing::subscriber::set_default(subscriber))
}

/// Waits (up to 10 s) until `done` holds.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// The PERMISSIVE inbound listener of a server at `addr`: servicea may call anything, nobody
/// else; four calls, then one a minute.
fn inbound(bootstrap: &Bootstrap, addr: SocketAddr) -> Listener {
    let servicea = Principal::SpiffeId(StringMatch::Exact(spiffe_id("servicea")));
    Listener::Server(ServerListener {
        name: bootstrap.server_listener_name(addr),
        address: addr,
        routes: RouteSource::Rds("inbound".into()),
        tls: InboundTls::Permissive,
        authorization: Some(Authorization {
            rules: vec![AuthzRule {
                name: "demo/callers/servicea".into(),
                action: AuthzAction::Allow,
                from: vec![servicea],
                to: Vec::new(),
            }],
            default_action: AuthzAction::Deny,
        }),
        rate_limit: Some(LocalRateLimit {
            max_tokens: 4,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(60),
        }),
    })
}

#[tokio::test]
async fn allowed_denied_and_rate_limited_calls_move_the_families_exactly() {
    let (_logs, _spans, _guard) = subscribe();
    let metrics = Metrics::new();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .identity(ca.identity("serviceb"))
        .metrics(metrics.clone())
        .drain_delay(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let (addr, handle) = (server.local_addr(), server.handle());
    tokio::spawn(server.serve(router(), std::future::pending()));
    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr)));
    let (servicea, intruder) = (ca.identity("servicea"), ca.identity("intruder"));
    let (a, x) = (Via::Mtls(&servicea), Via::Mtls(&intruder));

    for _ in 0..3 {
        assert_eq!(grpc(addr, &a, GET, "ok").await.unwrap().status, "0");
    }
    assert_eq!(get(addr, &a, "/hello").await.unwrap().0, StatusCode::OK);
    assert_eq!(grpc(addr, &x, GET, "no").await.unwrap().status, "7");
    let plain = get(addr, &Via::Plain, "/hello").await.unwrap().0;
    assert_eq!(plain, StatusCode::FORBIDDEN);
    for _ in 0..2 {
        assert_eq!(grpc(addr, &a, GET, "more").await.unwrap().status, "8");
    }
    let ready = get(addr, &Via::Plain, "/ready").await.unwrap().0;
    assert_eq!(ready, StatusCode::OK);

    let (a, x) = (spiffe_id("servicea"), spiffe_id("intruder"));
    let requests = |protocol: &str, method: &str, peer: &str, status: &str, n: u32| {
        format!(
            "mesh_server_requests_total{{protocol=\"{protocol}\",method=\"{method}\",peer=\"{peer}\",status=\"{status}\"}} {n}"
        )
    };
    let expected = [
        requests("grpc", GET, &a, "0", 3),
        requests("http", "GET", &a, "200", 1),
        requests("grpc", "other", &x, "7", 1),
        requests("http", "GET", "", "403", 1),
        requests("grpc", "other", &a, "8", 2),
        // The health check is counted too.
        requests("http", "GET", "", "200", 1),
        format!(
            "mesh_server_request_duration_seconds_count{{protocol=\"grpc\",method=\"{GET}\",status=\"0\"}} 3"
        ),
        format!("mesh_server_denied_total{{peer=\"{x}\",rule=\"default\"}} 1"),
        "mesh_server_denied_total{peer=\"\",rule=\"default\"} 1".to_string(),
        "mesh_server_rate_limited_total 2".to_string(),
        "mesh_server_requests_in_flight 0".to_string(),
        // The server's xDS client records in the server's registry.
        "mesh_xds_connected 1".to_string(),
        "mesh_server_connections_total{tls=\"true\",result=\"accepted\"} 7".to_string(),
        "mesh_server_connections_total{tls=\"false\",result=\"accepted\"} 2".to_string(),
    ];
    let all_there = || {
        let text = metrics.render_openmetrics();
        expected.iter().all(|line| text.lines().any(|l| l == line))
    };
    let there = eventually(all_there).await;
    let text = metrics.render_openmetrics();
    assert!(there, "expected {expected:#?}\nin:\n{text}");
    let series = metrics
        .render_openmetrics()
        .lines()
        .filter(|l| l.starts_with("mesh_server_requests_total{"))
        .count();
    assert_eq!(series, 6, "{}", metrics.render_openmetrics());

    // The server's own counters agree (health checks aside).
    let counted = handle.counters();
    let counts = (counted.requests, counted.denied, counted.rate_limited);
    assert_eq!(counts, (8, 2, 2), "{counted:?}");

    mesh_core::test_support::promtool_check("the server", &metrics.render_text());
}

#[tokio::test]
async fn each_request_writes_one_access_log_event_also_without_metrics() {
    let (logs, _spans, _guard) = subscribe();
    let ca = TestCa::new("mesh");
    let metrics = Metrics::new();
    let server = MeshServer::builder()
        .identity(ca.identity("serviceb"))
        .metrics(metrics.clone())
        .without_metrics()
        .drain_delay(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    tokio::spawn(server.serve(router(), std::future::pending()));
    let servicea = ca.identity("servicea");
    let a = Via::Mtls(&servicea);

    assert_eq!(grpc(addr, &a, GET, "ping").await.unwrap().status, "0");
    assert_eq!(get(addr, &a, "/hello").await.unwrap().0, StatusCode::OK);
    assert!(eventually(|| logs.events().len() == 2).await);

    let events = logs.events();
    let field = |i: usize, name: &str| events[i].get(name).cloned().unwrap_or_default();
    let expected = [
        ("side", "server"),
        ("method", "POST"),
        ("path", GET),
        ("status", "0"),
        ("mtls", "true"),
    ];
    for (name, value) in expected {
        assert_eq!(field(0, name), value, "{name} in {:?}", events[0]);
    }
    assert_eq!(field(0, "peer"), spiffe_id("servicea"));
    let remote: SocketAddr = field(0, "remote").parse().unwrap();
    assert!(remote.ip().is_loopback() && remote.port() != addr.port());
    let latency: f64 = field(0, "latency_ms").parse().unwrap();
    assert!((0.0..10_000.0).contains(&latency), "{latency}");
    assert_eq!(
        (field(1, "method"), field(1, "path"), field(1, "status")),
        ("GET".into(), "/hello".into(), "200".into())
    );
    // Built without metrics: nothing was even registered.
    assert!(!metrics.render_openmetrics().contains("mesh_server"));
}

/// The trace id of the span the handler runs in, as hex.
async fn trace_id() -> String {
    let span = tracing::Span::current();
    span.context().span().span_context().trace_id().to_string()
}

#[tokio::test]
async fn a_traceparent_makes_the_server_span_a_child_of_the_callers() {
    let (logs, spans, _guard) = subscribe();
    let server = MeshServer::builder()
        .metrics(Metrics::new())
        .drain_delay(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let app = Router::new().route("/trace", route_get(trace_id));
    tokio::spawn(server.serve(app, std::future::pending()));

    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let io = TokioIo::new(tokio::net::TcpStream::connect(addr).await.unwrap());
    let (mut send, connection) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    let request = Request::get("/trace")
        .header("host", addr.to_string())
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let seen = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        seen, trace,
        "the handler does not run in the caller's trace"
    );

    let server_span = || {
        let finished = spans.get_finished_spans().unwrap_or_default();
        finished.into_iter().find(|s| s.name == "mesh.server")
    };
    assert!(eventually(|| server_span().is_some()).await);
    let span = server_span().unwrap();
    assert_eq!(span.span_context.trace_id().to_string(), trace);
    assert_eq!(span.parent_span_id.to_string(), parent);
    let attribute = |key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attribute("path").as_deref(), Some("/trace"));
    assert_eq!(attribute("status").as_deref(), Some("200"));
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Server);
    let events = logs.events();
    let logged = events.iter().map(|event| event.get("trace_id"));
    assert_eq!(logged.collect::<Vec<_>>(), [Some(&trace.to_string())]);
}
