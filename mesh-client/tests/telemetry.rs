//! The client's telemetry through the public API: metrics in a registry of the test's own,
//! access-log events and `traceparent` propagation, against a real xDS client fed by a fake
//! ADS server and a gRPC-like h2c server on loopback.

mod support;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use mesh_client::{Builder, MeshChannel, MeshHttpClient};
use mesh_core::model::{
    AbortStatus, FaultAbort, FaultInjection, RetryBackoff, RetryOn, RetryPolicy, RoutePolicy,
    Share, UpstreamProtocol,
};
use mesh_core::telemetry::Metrics;
use mesh_core::xds::XdsClient;
use support::ads::{FakeAds, World};
use support::model::{cluster, endpoints, listener_inline, route_config};
use tokio::net::TcpListener;
use tower::ServiceExt;

const LISTENER: &str = "serviceb.demo:50051";
const TARGET: &str = "xds:///serviceb.demo:50051";

/// What the test server saw: each request's path and headers.
type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// A gRPC-like h2c/HTTP/1.1 server: `/flaky...` fails every other request (the first of each
/// pair) with a trailers-only UNAVAILABLE; everything else gets `ok` and trailers with
/// `grpc-status: 0`.
async fn server() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let path = req.uri().path().to_string();
                let flaky_seen = {
                    let mut log = log.lock().unwrap();
                    log.push((path.clone(), req.headers().clone()));
                    log.iter().filter(|(p, _)| p.starts_with("/flaky")).count()
                };
                let fail = path.starts_with("/flaky") && flaky_seen % 2 == 1;
                async move { Ok::<_, Infallible>(answer(fail)) }
            });
            tokio::spawn(async move {
                let http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = http.serve_connection(io, service).await;
            });
        }
    });
    (addr, seen)
}

type Frames = futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>;

fn answer(fail: bool) -> Response<StreamBody<Frames>> {
    let grpc = HeaderValue::from_static("application/grpc");
    if fail {
        let mut response = Response::new(StreamBody::new(futures_util::stream::iter(vec![])));
        response.headers_mut().insert("content-type", grpc);
        let unavailable = HeaderValue::from_static("14");
        response.headers_mut().insert("grpc-status", unavailable);
        return response;
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames = vec![
        Ok(Frame::data(Bytes::from("ok"))),
        Ok(Frame::trailers(trailers)),
    ];
    let mut response = Response::new(StreamBody::new(futures_util::stream::iter(frames)));
    response.headers_mut().insert("content-type", grpc);
    response
}

/// `/ok` plainly, `/flaky` with up to 2 attempts on UNAVAILABLE, `/abort` always aborted with
/// UNAVAILABLE; all to cluster `b` at `addr`.
fn world(addr: SocketAddr) -> World {
    let mut routes = route_config(
        "rc",
        LISTENER,
        &[
            ("/ok", &[("b", 1)]),
            ("/flaky", &[("b", 1)]),
            ("/abort", &[("b", 1)]),
        ],
    );
    let vhost = &mut routes.virtual_hosts[0];
    vhost.routes[1].policy = RoutePolicy {
        retry: Some(RetryPolicy {
            max_attempts: 2,
            retry_on: RetryOn {
                grpc_codes: vec![tonic::Code::Unavailable],
                ..Default::default()
            },
            backoff: RetryBackoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            per_try_timeout: None,
        }),
        ..Default::default()
    };
    vhost.routes[2].policy = RoutePolicy {
        fault: Some(FaultInjection {
            abort: Some(FaultAbort {
                status: AbortStatus::Grpc(tonic::Code::Unavailable),
                share: Share::from_per_million(Share::MILLION).unwrap(),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&cluster("b", UpstreamProtocol::Http2))
        .endpoints(&endpoints("b", &[addr]))
}

fn xds(ads: &FakeAds) -> XdsClient {
    XdsClient::builder()
        .bootstrap(ads.bootstrap())
        .build()
        .unwrap()
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

/// Calls `path` on `channel` and reads the whole response, trailers included.
async fn call(channel: &MeshChannel, path: &str) {
    let response = channel.clone().oneshot(get(path)).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// The sum of the samples of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            let named = rest.is_empty() || rest.starts_with('{');
            (named && matches).then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

#[tokio::test]
async fn a_known_sequence_moves_each_family_by_the_right_amount() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();

    for _ in 0..3 {
        call(&channel, "/ok/Get").await;
    }
    for _ in 0..2 {
        call(&channel, "/flaky/Get").await;
    }
    call(&channel, "/abort/Get").await;

    let text = metrics.render_text();
    let requests = "mesh_client_requests_total";
    let ok = [
        ("protocol", "grpc"),
        ("route", "prefix /ok"),
        ("cluster", "b"),
    ];
    assert_eq!(sample(&text, requests, &ok), 3.0, "{text}");
    assert_eq!(
        sample(&text, requests, &[("status", "0"), ("peer", "")]),
        5.0,
        "{text}"
    );
    let flaky = [("route", "prefix /flaky"), ("status", "0")];
    assert_eq!(sample(&text, requests, &flaky), 2.0, "{text}");
    let aborted = [("route", "prefix /abort"), ("status", "14")];
    assert_eq!(sample(&text, requests, &aborted), 1.0, "{text}");
    assert_eq!(sample(&text, requests, &[]), 6.0, "{text}");

    let b = [("cluster", "b")];
    // 3 plain calls, then 2 calls of 2 attempts each; the abort never leaves the client.
    assert_eq!(sample(&text, "mesh_client_attempts_total", &b), 7.0);
    assert_eq!(sample(&text, "mesh_client_retries_total", &b), 2.0);
    assert_eq!(
        sample(&text, "mesh_client_retry_budget_exhausted_total", &b),
        0.0
    );
    let abort = [("route", "prefix /abort"), ("kind", "abort")];
    assert_eq!(
        sample(&text, "mesh_client_faults_injected_total", &abort),
        1.0
    );
    assert_eq!(sample(&text, "mesh_client_requests_in_flight", &b), 0.0);
    let count = "mesh_client_request_duration_seconds_count";
    assert_eq!(sample(&text, count, &[]), 6.0, "{text}");
    assert_eq!(sample(&text, count, &[("route", "prefix /flaky")]), 2.0);

    // The client's own snapshot agrees.
    let counters = channel.counters();
    assert_eq!((counters.attempts, counters.retries), (7, 2));
    assert_eq!(counters.injected_aborts, 1);
}

#[tokio::test]
async fn a_call_counts_in_flight_until_its_body_is_read() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    let in_flight = || {
        sample(
            &metrics.render_text(),
            "mesh_client_requests_in_flight",
            &[],
        )
    };

    let response = channel.clone().oneshot(get("/ok/Get")).await.unwrap();
    assert_eq!(in_flight(), 1.0);
    let requests = || sample(&metrics.render_text(), "mesh_client_requests_total", &[]);
    assert_eq!(requests(), 0.0, "counted only when over");
    response.into_body().collect().await.unwrap();
    assert_eq!(in_flight(), 0.0);
    assert_eq!(requests(), 1.0);

    // A call given up before its response is CANCELLED.
    let response = channel.clone().oneshot(get("/ok/Get")).await.unwrap();
    drop(response);
    let cancelled = [("status", "1")];
    let text = metrics.render_text();
    assert_eq!(
        sample(&text, "mesh_client_requests_total", &cancelled),
        1.0,
        "{text}"
    );
    assert_eq!(in_flight(), 0.0);
}

#[tokio::test]
async fn http_calls_count_by_http_status_and_calls_without_response_as_error() {
    let (addr, _) = server().await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let routes = route_config(
        "rc",
        LISTENER,
        &[("/dead", &[("dead", 1)]), ("", &[("b", 1)])],
    );
    let world = World::default()
        .listener(&listener_inline(LISTENER, routes))
        .cluster(&cluster("b", UpstreamProtocol::Http1))
        .cluster(&cluster("dead", UpstreamProtocol::Http1))
        .endpoints(&endpoints("b", &[addr]))
        .endpoints(&endpoints("dead", &[dead]));
    let ads = FakeAds::start(world).await;
    let metrics = Metrics::new();
    let client: MeshHttpClient = Builder::new()
        .metrics(metrics.clone())
        .http_client(&xds(&ads));

    let response = client
        .get("http://serviceb.demo:50051/items")
        .await
        .unwrap();
    response.into_body().collect().await.unwrap();
    let error = client
        .get("http://serviceb.demo:50051/dead")
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error}");

    let text = metrics.render_text();
    let ok = [("protocol", "http"), ("cluster", "b"), ("status", "200")];
    assert_eq!(
        sample(&text, "mesh_client_requests_total", &ok),
        1.0,
        "{text}"
    );
    let failed = [("cluster", "dead"), ("status", "error")];
    assert_eq!(
        sample(&text, "mesh_client_requests_total", &failed),
        1.0,
        "{text}"
    );
}

#[tokio::test]
async fn a_client_without_metrics_registers_nothing_but_still_counts() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();
    call(&channel, "/flaky/Get").await;
    assert_eq!(channel.counters().retries, 1);
    let global = Metrics::global().render_text();
    assert!(!global.contains("mesh_client_"), "{global}");
}

#[tokio::test]
async fn the_rendered_text_passes_promtool() {
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let metrics = Metrics::new();
    let channel = Builder::new()
        .metrics(metrics.clone())
        .channel(&xds(&ads), TARGET)
        .unwrap();
    for path in ["/ok/Get", "/flaky/Get", "/abort/Get"] {
        call(&channel, path).await;
    }
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed");
    use std::io::Write;
    let text = metrics.render_text();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool: {said}\n{text}");
    assert!(said.trim().is_empty(), "promtool: {said}\n{text}");
}

/// A `tracing` layer keeping the fields of every access-log event.
#[derive(Clone, Default)]
struct AccessLog(Arc<Mutex<Vec<HashMap<String, String>>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for AccessLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != mesh_core::telemetry::ACCESS_LOG_TARGET {
            return;
        }
        struct Fields<'a>(&'a mut HashMap<String, String>);
        impl tracing::field::Visit for Fields<'_> {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0
                    .insert(field.name().to_string(), format!("{value:?}"));
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.insert(field.name().to_string(), value.to_string());
            }
        }
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(fields);
    }
}

#[tokio::test]
async fn each_call_writes_one_access_log_event() {
    use tracing_subscriber::layer::SubscriberExt;
    let log = AccessLog::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(log.clone()));
    let (addr, _) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();

    call(&channel, "/flaky/Get").await;
    call(&channel, "/abort/Get").await;

    let events = log.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2, "{events:?}");
    let flaky = &events[0];
    let upstream = addr.to_string();
    for (field, value) in [
        ("side", "client"),
        ("method", "GET"),
        ("path", "/flaky/Get"),
        ("status", "0"),
        ("peer", "-"),
        ("mtls", "false"),
        ("route", "prefix /flaky"),
        ("cluster", "b"),
        ("upstream", upstream.as_str()),
        ("attempts", "2"),
    ] {
        assert_eq!(
            flaky.get(field).map(String::as_str),
            Some(value),
            "{field}: {flaky:?}"
        );
    }
    let latency: f64 = flaky["latency_ms"].parse().unwrap();
    assert!(latency > 0.0, "{flaky:?}");
    let abort = &events[1];
    assert_eq!(abort["status"], "14", "{abort:?}");
    assert_eq!(
        (abort["upstream"].as_str(), abort["attempts"].as_str()),
        ("-", "0")
    );
}

#[tokio::test]
async fn a_recorded_span_sends_traceparent_and_an_unrecorded_one_does_not() {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let (addr, seen) = server().await;
    let ads = FakeAds::start(world(addr)).await;
    let channel = Builder::new()
        .without_metrics()
        .channel(&xds(&ads), TARGET)
        .unwrap();

    call(&channel, "/ok/Untraced").await;
    {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        call(&channel, "/ok/Traced").await;
        // Each attempt of a retried call carries it.
        call(&channel, "/flaky/Traced").await;
    }

    let seen = seen.lock().unwrap();
    let traceparent = |path: &str| -> Vec<Option<String>> {
        let value = |h: &HeaderMap| h.get("traceparent").map(|v| v.to_str().unwrap().into());
        seen.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| value(h))
            .collect()
    };
    assert_eq!(traceparent("/ok/Untraced"), [None]);
    let traced = traceparent("/ok/Traced");
    let parent = traced[0].as_deref().expect("a traceparent");
    assert!(parent.starts_with("00-") && parent.len() == 55, "{parent}");
    let retried = traceparent("/flaky/Traced");
    assert_eq!(retried.len(), 2);
    assert!(retried.iter().all(Option::is_some), "{retried:?}");
    assert_eq!(retried[0], retried[1], "one call, one span");
}
