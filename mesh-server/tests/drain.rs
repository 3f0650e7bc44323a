//! Health and drain: `grpc.health.v1.Health` and `/ready` on the server's port, and the order
//! of a drain (NOT_SERVING first, calls in flight finish), at shutdown and when mesh-control
//! removes the inbound listener.

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use mesh_core::bootstrap::Bootstrap;
use mesh_core::model::{
    Authorization, AuthzAction, InboundTls, Listener, LocalRateLimit, RouteSource, ServerListener,
};
use mesh_server::MeshServer;
use support::ads::{FakeAds, World};
use support::calls::{Via, get};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// A generous bound for anything that should happen promptly on a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(10);

/// The inbound listener of a server at `addr` with `bootstrap`: plaintext, refusing every call, one call per
/// minute.
fn closed_inbound(bootstrap: &Bootstrap, addr: SocketAddr) -> Listener {
    Listener::Server(ServerListener {
        name: bootstrap.server_listener_name(addr),
        address: addr,
        routes: RouteSource::Rds("inbound".into()),
        tls: InboundTls::Plaintext,
        authorization: Some(Authorization {
            rules: Vec::new(),
            default_action: AuthzAction::Deny,
        }),
        rate_limit: Some(LocalRateLimit {
            max_tokens: 1,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(60),
        }),
    })
}

/// Answers `/slow` once released, anything else at once.
fn app(
    release: Arc<Notify>,
    arrived: Arc<Notify>,
) -> impl tower::Service<
    Request<Incoming>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |request: Request<Incoming>| {
        let (release, arrived) = (release.clone(), arrived.clone());
        async move {
            if request.uri().path() == "/slow" {
                arrived.notify_one();
                release.notified().await;
            }
            Ok::<_, Infallible>(Response::new(format!("done {}", request.uri().path())))
        }
    })
}

/// Waits until the server at `addr` applies [`closed_inbound`] (a plaintext server serves
/// before its listener comes).
async fn until_in_force(addr: SocketAddr) {
    let mut status = StatusCode::OK;
    for _ in 0..500 {
        status = get(addr, &Via::Plain, "/other").await.unwrap().0;
        if status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the inbound listener never applied"
    );
}

async fn health(addr: SocketAddr) -> HealthClient<Channel> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    HealthClient::new(channel)
}

async fn check(addr: SocketAddr) -> ServingStatus {
    let response = health(addr)
        .await
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    response.into_inner().status()
}

#[tokio::test]
async fn health_serves_once_the_inbound_config_is_in_force_and_bypasses_the_policies() {
    // Every test of this binary captures logs (see policy.rs for why).
    let (_logs, _guard) = support::logs::capture();
    let ads = FakeAds::start(World::default()).await;
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .drain_delay(Duration::ZERO)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let handle = server.handle();
    let (_stop, stopped) = oneshot::channel::<()>();
    let (release, arrived) = (Arc::default(), Arc::default());
    tokio::spawn(server.serve(app(release, arrived), async { stopped.await.unwrap_or(()) }));
    ads.set(World::default().listener(&closed_inbound(&ads.bootstrap(), addr)));
    // Without an identity the server serves at once; the policies apply when they come.
    until_in_force(addr).await;

    for _ in 0..3 {
        assert_eq!(check(addr).await, ServingStatus::Serving);
        assert_eq!(
            get(addr, &Via::Plain, "/ready").await.unwrap().0,
            StatusCode::OK
        );
    }
    let unknown = health(addr)
        .await
        .check(HealthCheckRequest {
            service: "demo.Unknown".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let counted = handle.counters();
    assert!(counted.requests >= 1 && counted.denied == 1, "{counted:?}");
}

#[tokio::test]
async fn shutdown_says_not_serving_first_then_stops_accepting_and_lets_calls_finish() {
    let (logs, _guard) = support::logs::capture();
    let server = MeshServer::builder()
        .drain_delay(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (release, arrived) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(app(release.clone(), arrived.clone()), async {
        stopped.await.unwrap_or(())
    }));

    let mut watch = health(addr)
        .await
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = watch.next().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    let slow = tokio::spawn(get(addr, &Via::Plain, "/slow"));
    arrived.notified().await;

    stop.send(()).unwrap();
    let next = tokio::time::timeout(PROMPTLY, watch.next()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    assert!(!slow.is_finished());
    // During the drain delay the server still takes connections, and says it is not ready.
    let (ready, _, _) = get(addr, &Via::Plain, "/ready").await.unwrap();
    assert_eq!(ready, StatusCode::SERVICE_UNAVAILABLE);

    // Then it stops accepting; the watch stream ends; the call in flight goes on.
    let mut refused = false;
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still accepting after the drain delay");
    let ended = tokio::time::timeout(PROMPTLY, watch.next()).await.unwrap();
    assert!(
        !matches!(ended, Some(Ok(_))),
        "the health watch went on: {ended:?}"
    );
    assert!(
        !serving.is_finished(),
        "stopped before the call in flight finished"
    );

    release.notify_one();
    let (status, _, body) = slow.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::OK, "done /slow"));
    tokio::time::timeout(PROMPTLY, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();

    let text = logs.text();
    let order = [
        "draining: health NOT_SERVING, leaving EDS",
        "draining: serving while clients move away",
        "draining: stopped accepting, GOAWAY sent",
        "drained: server stopped",
    ];
    let at: Vec<_> = order.iter().map(|step| text.find(step)).collect();
    assert!(at.iter().all(Option::is_some) && at.is_sorted(), "{text}");
}

#[tokio::test]
async fn removing_the_inbound_listener_drains_the_server() {
    let (logs, _guard) = support::logs::capture();
    let ads = FakeAds::start(World::default()).await;
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .drain_delay(Duration::from_millis(300))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (_stop, stopped) = oneshot::channel::<()>();
    let (release, arrived) = (Arc::default(), Arc::default());
    let serving =
        tokio::spawn(server.serve(app(release, arrived), async { stopped.await.unwrap_or(()) }));
    ads.set(World::default().listener(&closed_inbound(&ads.bootstrap(), addr)));
    until_in_force(addr).await;
    let mut watch = health(addr)
        .await
        .watch(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.next().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    ads.set(World::default());
    let next = tokio::time::timeout(PROMPTLY, watch.next()).await.unwrap();
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    tokio::time::timeout(PROMPTLY, serving)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        logs.lines_with("removed the inbound listener").len(),
        1,
        "{}",
        logs.text()
    );
    assert!(logs.text().contains("stop=Removed"), "{}", logs.text());
}
