//! What the telemetry tests share: a gRPC-like test server, the world of resources that
//! routes to it, a metrics-text reader and an access-log recorder.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use mesh_client::MeshChannel;
use mesh_core::model::{
    AbortStatus, FaultAbort, FaultInjection, RetryBackoff, RetryOn, RetryPolicy, RoutePolicy,
    Share, UpstreamProtocol,
};
use mesh_core::xds::XdsClient;
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::ads::{FakeAds, World};
use super::model::{cluster, endpoints, listener_inline, route_config};

/// The listener the test worlds serve.
pub const LISTENER: &str = "serviceb.demo:50051";
/// The gRPC target of [`LISTENER`].
pub const TARGET: &str = "xds:///serviceb.demo:50051";

/// What the test server saw: each request's path and headers.
pub type Seen = Arc<Mutex<Vec<(String, HeaderMap)>>>;

/// A gRPC-like h2c/HTTP/1.1 server answering by path prefix:
/// - `/flaky`: fails every other request (the first of each pair) with a trailers-only
///   UNAVAILABLE;
/// - `/status503`: HTTP 503 without `grpc-status`;
/// - `/liar`: OK, with a `grpc-previous-rpc-attempts` of `u32::MAX` in the head;
/// - `/broken`: 200 and a body that breaks after its first chunk;
/// - anything else: `ok` and trailers with `grpc-status: 0`.
pub async fn server() -> (SocketAddr, Seen) {
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
                async move { Ok::<_, std::io::Error>(answer(&path, fail)) }
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

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn body(frames: Vec<Result<Frame<Bytes>, std::io::Error>>) -> Body {
    StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync()
}

/// A body that sends a chunk, then breaks a moment later (after the head is out).
fn broken() -> Body {
    let first = futures_util::stream::iter([Ok(Frame::data(Bytes::from("ok")))]);
    let then = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Err(std::io::Error::other("broken"))
    });
    StreamBody::new(first.chain(then)).boxed_unsync()
}

fn answer(path: &str, fail: bool) -> Response<Body> {
    let grpc = HeaderValue::from_static("application/grpc");
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let ok = || Ok(Frame::data(Bytes::from("ok")));
    let body = match path {
        _ if fail || path.starts_with("/status503") => body(vec![]),
        _ if path.starts_with("/broken") => broken(),
        _ => body(vec![ok(), Ok(Frame::trailers(trailers))]),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert("content-type", grpc);
    if fail {
        headers.insert("grpc-status", HeaderValue::from_static("14"));
    } else if path.starts_with("/status503") {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    } else if path.starts_with("/liar") {
        let lie = HeaderValue::from(u32::MAX);
        headers.insert("grpc-previous-rpc-attempts", lie);
    }
    response
}

/// The route policy of up to 2 attempts on `retry_on`, after 1-2 ms, each within `per_try`.
pub fn retry_twice(retry_on: RetryOn, per_try: Option<Duration>) -> RoutePolicy {
    RoutePolicy {
        retry: Some(RetryPolicy {
            max_attempts: 2,
            retry_on,
            backoff: RetryBackoff {
                base: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            per_try_timeout: per_try,
        }),
        ..Default::default()
    }
}

/// `/ok` plainly, `/flaky` with up to 2 attempts on UNAVAILABLE, `/abort` always aborted with
/// UNAVAILABLE, anything else plainly (route `prefix `); all to cluster `b` at `addr`.
pub fn world(addr: SocketAddr) -> World {
    let mut routes = route_config(
        "rc",
        LISTENER,
        &[
            ("/ok", &[("b", 1)]),
            ("/flaky", &[("b", 1)]),
            ("/abort", &[("b", 1)]),
            ("", &[("b", 1)]),
        ],
    );
    let vhost = &mut routes.virtual_hosts[0];
    let unavailable = RetryOn {
        grpc_codes: vec![tonic::Code::Unavailable],
        ..Default::default()
    };
    vhost.routes[1].policy = retry_twice(unavailable, None);
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

/// An xDS client of `ads`.
pub fn xds(ads: &FakeAds) -> XdsClient {
    XdsClient::builder()
        .bootstrap(ads.bootstrap())
        .build()
        .unwrap()
}

/// A GET of `path` without a body.
pub fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

/// The `traceparent` of each request the server saw for `path`.
pub fn traceparents(seen: &Seen, path: &str) -> Vec<Option<String>> {
    let value = |h: &HeaderMap| h.get("traceparent").map(|v| v.to_str().unwrap().into());
    let seen = seen.lock().unwrap();
    seen.iter()
        .filter(|(p, _)| p == path)
        .map(|(_, h)| value(h))
        .collect()
}

/// Calls `path` on `channel` and reads the whole response, trailers included.
pub async fn call(channel: &MeshChannel, path: &str) {
    let response = channel.clone().oneshot(get(path)).await.unwrap();
    response.into_body().collect().await.unwrap();
}

/// The sum of the samples of `name` whose labels include every one of `labels`; `None` if
/// there is no such series.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            let matches = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            let named = rest.is_empty() || rest.starts_with('{');
            (named && matches).then(|| value.parse::<f64>().unwrap())
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// A `tracing` layer keeping the fields of every access-log event.
#[derive(Clone, Default)]
pub struct AccessLog(pub Arc<Mutex<Vec<HashMap<String, String>>>>);

impl AccessLog {
    /// The events so far.
    pub fn events(&self) -> Vec<HashMap<String, String>> {
        self.0.lock().unwrap().clone()
    }
}

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

/// Asserts that `event` has each of `fields`.
pub fn assert_fields(event: &HashMap<String, String>, fields: &[(&str, &str)]) {
    for (field, value) in fields {
        assert_eq!(
            event.get(*field).map(String::as_str),
            Some(*value),
            "{field}: {event:?}"
        );
    }
}
