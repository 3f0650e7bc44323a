//! The whole stack against real HTTP/1.1 and h2c servers on loopback, with resolutions built
//! by hand from model types (the xDS half is mesh-core's, tested there).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use mesh_core::model::{
    Cluster, ClusterLoadAssignment, Endpoint as ModelEndpoint, HealthStatus, PathMatch, Route,
    RouteAction, RouteMatch, UpstreamProtocol, VirtualHost, WeightedCluster,
};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

use super::Stack;
use crate::MeshChannel;
use crate::connect::{Caller, Connections};
use crate::resolve::{ClusterInput, Resolution, TableBuilder, Unresolved};
use crate::{DEFAULT_CONFIG_TIMEOUT, Error};

const LISTENER: &str = "serviceb.demo:50051";

/// A server on loopback (HTTP/1.1 and h2c) that answers `NAME HOST`, where `HOST` is the
/// `host` header or else the URI authority; a request to `/slow` waits for `release`.
async fn server(name: &'static str, release: Arc<Notify>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let release = release.clone();
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let release = release.clone();
                async move {
                    if req.uri().path() == "/slow" {
                        release.notified().await;
                    }
                    let host = req
                        .headers()
                        .get(http::header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_string)
                        .or_else(|| req.uri().authority().map(|a| a.to_string()))
                        .unwrap_or_default();
                    let body = format!("{name} {host} {:?}", req.version());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                }
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
    addr
}

/// A route table: `/a...` to cluster `a`, everything else to `b`, each at `endpoints`.
fn resolution(
    builder: &mut TableBuilder,
    protocol: UpstreamProtocol,
    endpoints: &[(&str, &[SocketAddr])],
) -> Resolution {
    let route = |prefix: &str, cluster: &str| Route {
        policy: Default::default(),
        name: cluster.into(),
        matcher: RouteMatch {
            path: PathMatch::Prefix(prefix.into()),
            case_sensitive: true,
            headers: Vec::new(),
        },
        action: RouteAction::Forward(vec![WeightedCluster {
            cluster: cluster.into(),
            weight: 1,
        }]),
    };
    let vhost = VirtualHost {
        name: "b".into(),
        domains: vec![LISTENER.into(), "serviceb.demo".into()],
        routes: vec![route("/a", "a"), route("", "b")],
    };
    let models: Vec<(Cluster, ClusterLoadAssignment)> = endpoints
        .iter()
        .map(|(name, addrs)| {
            let cluster = Cluster {
                name: name.to_string(),
                eds_service_name: name.to_string(),
                policy: Default::default(),
                protocol,
                tls: None,
            };
            let endpoints = addrs
                .iter()
                .map(|a| ModelEndpoint {
                    address: *a,
                    weight: 1,
                    health: HealthStatus::Healthy,
                })
                .collect();
            let cla = ClusterLoadAssignment {
                cluster_name: name.to_string(),
                endpoints,
            };
            (cluster, cla)
        })
        .collect();
    let inputs: HashMap<String, ClusterInput<'_>> = models
        .iter()
        .map(|(c, cla)| (c.name.clone(), ClusterInput::Present(c, Some(cla))))
        .collect();
    Resolution::Ready(builder.build(LISTENER, &vhost, &inputs))
}

fn stack(caller: Caller, rx: watch::Receiver<Arc<Resolution>>, config_timeout: Duration) -> Stack {
    let counters = Arc::default();
    Stack::new(
        LISTENER,
        caller,
        config_timeout,
        counters,
        rx,
        Connections::new(None),
    )
}

fn get(path: &str) -> Request<Empty<Bytes>> {
    Request::get(path).body(Empty::new()).unwrap()
}

async fn text(response: Response<crate::ResponseBody>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[tokio::test]
async fn grpc_requests_are_routed_by_path_over_http2() {
    let never = Arc::new(Notify::new());
    let (a, b) = (server("a", never.clone()).await, server("b", never).await);
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::default());
    let ready = resolution(
        &mut builder,
        UpstreamProtocol::Http1,
        &[("a", &[a]), ("b", &[b])],
    );
    let (_tx, rx) = watch::channel(Arc::new(ready));
    let channel = MeshChannel::from_stack(stack(Caller::Grpc, rx, DEFAULT_CONFIG_TIMEOUT));

    let response = channel.clone().oneshot(get("/a/x")).await.unwrap();
    assert_eq!(text(response).await, format!("a {a} HTTP/2.0"));
    let response = channel.oneshot(get("/demo.Greeter/Hello")).await.unwrap();
    assert_eq!(text(response).await, format!("b {b} HTTP/2.0"));
}

#[tokio::test]
async fn http_requests_keep_the_service_name_as_host() {
    let never = Arc::new(Notify::new());
    let b = server("b", never).await;
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::default());
    let ready = resolution(&mut builder, UpstreamProtocol::Http1, &[("b", &[b])]);
    let (_tx, rx) = watch::channel(Arc::new(ready));
    let stack = stack(Caller::Http, rx, DEFAULT_CONFIG_TIMEOUT);

    let request =
        get("http://serviceb.demo/items").map(|b| b.map_err(|n| match n {}).boxed_unsync());
    let response = stack.call::<Error>(request).await.unwrap();
    assert_eq!(text(response).await, "b serviceb.demo HTTP/1.1");
}

#[tokio::test]
async fn a_request_before_the_first_config_waits_for_it() {
    let never = Arc::new(Notify::new());
    let b = server("b", never).await;
    let (tx, rx) = watch::channel(Arc::new(Resolution::Pending));
    let channel = MeshChannel::from_stack(stack(Caller::Grpc, rx, DEFAULT_CONFIG_TIMEOUT));

    let waiting = tokio::spawn(channel.oneshot(get("/x")));
    tokio::task::yield_now().await;
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::default());
    tx.send_replace(Arc::new(resolution(
        &mut builder,
        UpstreamProtocol::Http2,
        &[("b", &[b])],
    )));
    let response = waiting.await.unwrap().unwrap();
    assert_eq!(text(response).await, format!("b {b} HTTP/2.0"));
}

#[tokio::test(start_paused = true)]
async fn a_request_gives_up_waiting_for_config_after_the_timeout() {
    let (_tx, rx) = watch::channel(Arc::new(Resolution::Pending));
    let channel = MeshChannel::from_stack(stack(Caller::Grpc, rx, Duration::from_secs(3)));
    let status = channel.oneshot(get("/x")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert!(
        status
            .message()
            .contains("no xDS config for listener \"serviceb.demo:50051\" after 3s")
    );
}

#[tokio::test]
async fn a_missing_listener_fails_at_once_as_unavailable() {
    let (_tx, rx) = watch::channel(Arc::new(Resolution::Failed(Unresolved::ListenerNotFound)));
    let channel = MeshChannel::from_stack(stack(Caller::Grpc, rx, DEFAULT_CONFIG_TIMEOUT));
    let status = channel.oneshot(get("/x")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        status.message(),
        "UNAVAILABLE: xDS listener \"serviceb.demo:50051\" does not exist; check the target name \
         and that mesh-control knows a Service by this name"
    );
}

#[tokio::test]
async fn an_endpoint_removed_while_a_request_is_in_flight_still_answers_it() {
    let release = Arc::new(Notify::new());
    let (old, new) = (
        server("old", release.clone()).await,
        server("new", release.clone()).await,
    );
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::default());
    let first = resolution(&mut builder, UpstreamProtocol::Http2, &[("b", &[old])]);
    let (tx, rx) = watch::channel(Arc::new(first));
    let channel = MeshChannel::from_stack(stack(Caller::Grpc, rx, DEFAULT_CONFIG_TIMEOUT));

    let slow = tokio::spawn(channel.clone().oneshot(get("/slow")));
    // Let the request reach the server before the endpoint goes away.
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send_replace(Arc::new(resolution(
        &mut builder,
        UpstreamProtocol::Http2,
        &[("b", &[new])],
    )));
    let response = channel.oneshot(get("/fast")).await.unwrap();
    assert_eq!(text(response).await, format!("new {new} HTTP/2.0"));
    release.notify_one();
    let response = slow.await.unwrap().unwrap();
    assert_eq!(text(response).await, format!("old {old} HTTP/2.0"));
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_connect_error_naming_it() {
    // Bind then drop a listener: nothing listens on that port any more.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut builder = TableBuilder::new(crate::balance::DEFAULT_DECAY, Arc::default());
    let ready = resolution(&mut builder, UpstreamProtocol::Http2, &[("b", &[closed])]);
    let (_tx, rx) = watch::channel(Arc::new(ready));
    let stack = stack(Caller::Grpc, rx, DEFAULT_CONFIG_TIMEOUT);
    let request = get("/x").map(|b| b.map_err(|n| match n {}).boxed_unsync());
    let err = stack.call::<Error>(request).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("endpoint {closed} of cluster \"b\"")),
        "{err}"
    );
}
