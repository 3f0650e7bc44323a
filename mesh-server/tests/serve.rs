//! A meshed server on loopback, driven by real HTTP/1.1 and h2c clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mesh_core::bootstrap::Bootstrap;
use mesh_server::{Error, MeshServer};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

/// Answers with the request's HTTP version; `/slow` tells `arrived`, then waits for `release`.
#[derive(Clone, Default)]
struct App {
    arrived: Arc<Notify>,
    release: Arc<Notify>,
}

impl App {
    fn service(
        self,
    ) -> impl tower::Service<
        Request<Incoming>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + 'static {
        let app = self;
        tower::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                if req.uri().path() == "/slow" {
                    app.arrived.notify_one();
                    app.release.notified().await;
                }
                let body = format!("{:?} {}", req.version(), req.uri().path());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            }
        })
    }
}

async fn body_text(response: Response<Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Sends `GET path` over a new connection in `version` (HTTP/1.1 or h2c prior knowledge).
async fn get(addr: SocketAddr, version: Version, path: &str) -> hyper::Result<Response<Incoming>> {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let uri = format!("http://{addr}{path}");
    if version == Version::HTTP_2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        send.send_request(Request::get(uri).body(Empty::<Bytes>::new()).unwrap())
            .await
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        let request = Request::get(path)
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new());
        send.send_request(request.unwrap()).await
    }
}

#[tokio::test]
async fn one_port_serves_http1_and_h2c() {
    let server = MeshServer::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let app = App::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving =
        tokio::spawn(server.serve(app.clone().service(), async { stopped.await.unwrap_or(()) }));

    let h1 = get(addr, Version::HTTP_11, "/one").await.unwrap();
    assert_eq!(body_text(h1).await, "HTTP/1.1 /one");
    let h2 = get(addr, Version::HTTP_2, "/two").await.unwrap();
    assert_eq!(body_text(h2).await, "HTTP/2.0 /two");

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_stops_accepting() {
    let server = MeshServer::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let app = App::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving =
        tokio::spawn(server.serve(app.clone().service(), async { stopped.await.unwrap_or(()) }));

    let slow = tokio::spawn(get(addr, Version::HTTP_2, "/slow"));
    app.arrived.notified().await;
    stop.send(()).unwrap();
    // Once the accept loop has stopped, new connections are refused.
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "the server still accepts connections after shutdown"
    );
    assert!(
        !serving.is_finished(),
        "the server stopped before its request finished"
    );

    app.release.notify_one();
    let response = slow.await.unwrap().unwrap();
    assert_eq!(body_text(response).await, "HTTP/2.0 /slow");
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_is_bounded_by_the_timeout() {
    let server = MeshServer::builder()
        .shutdown_timeout(Duration::from_millis(200))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let app = App::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving =
        tokio::spawn(server.serve(app.clone().service(), async { stopped.await.unwrap_or(()) }));

    let stuck = tokio::spawn(get(addr, Version::HTTP_11, "/slow"));
    app.arrived.notified().await;
    stop.send(()).unwrap();
    // The request never finishes, yet the server returns, closing the connection.
    serving.await.unwrap().unwrap();
    assert!(stuck.await.unwrap().is_err());
}

#[tokio::test]
async fn a_meshed_server_serves_while_the_control_service_is_unreachable() {
    // Nothing listens on port 1: the xDS client keeps retrying in the background.
    let server = MeshServer::builder()
        .bootstrap(Bootstrap::insecure("127.0.0.1:1", "serviceb-test"))
        .register("serviceb.demo:8080")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(App::default().service(), async {
        stopped.await.unwrap_or(())
    }));
    let response = get(addr, Version::HTTP_11, "/").await.unwrap();
    assert_eq!(body_text(response).await, "HTTP/1.1 /");
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn registering_needs_a_bootstrap() {
    let err = MeshServer::builder()
        .register("serviceb.demo:8080")
        .bind("127.0.0.1:0")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::RegisterWithoutBootstrap { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("serviceb.demo:8080"), "{err}");
}

#[tokio::test]
async fn registering_an_unspecified_address_needs_advertise() {
    let err = MeshServer::builder()
        .bootstrap(Bootstrap::insecure("127.0.0.1:1", "serviceb-test"))
        .register("serviceb.demo:8080")
        .bind("0.0.0.0:0")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnspecifiedAddress { .. }), "{err}");
    assert!(err.to_string().contains("advertise"), "{err}");
}

#[tokio::test]
async fn binding_a_used_port_says_which() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = MeshServer::builder().bind(addr).await.unwrap_err();
    assert!(matches!(err, Error::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
