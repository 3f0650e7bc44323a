//! mTLS on a meshed server: real TLS clients and certificates from a test CA, with the mode
//! from a fake xDS server or the default (STRICT without xDS).

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::{Identity, PeerIdentity};
use mesh_core::model::{InboundTls, Listener, RouteSource, ServerListener};
use mesh_core::telemetry::Metrics;
use mesh_server::{BoxError, MeshServer};
use rustls::pki_types::ServerName;
use support::ads::{FakeAds, World};
use support::certs::{TestCa, spiffe_id};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// Answers `VERSION PATH CALLER`, where CALLER is the client's SPIFFE ID or `-`.
fn app() -> impl tower::Service<
    Request<Incoming>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    tower::service_fn(|req: Request<Incoming>| async move {
        let caller = match req.extensions().get::<PeerIdentity>() {
            Some(peer) => peer.to_string(),
            None => "-".to_string(),
        };
        let body = format!("{:?} {} {caller}", req.version(), req.uri().path());
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
    })
}

/// Serves [`app`] on `server` until the returned sender is dropped or used.
fn serve(server: MeshServer) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.serve(app(), async { stopped.await.unwrap_or(()) }));
    stop
}

/// `GET path` in HTTP/1.1 (`h2`: HTTP/2) over `io`, returning the body.
async fn get_over<I>(io: I, addr: SocketAddr, h2: bool, path: &str) -> Result<String, BoxError>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let response = if h2 {
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        let uri = format!("http://{addr}{path}");
        send.send_request(Request::get(uri).body(Empty::<Bytes>::new())?)
            .await?
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        let request = Request::get(path).header("host", addr.to_string());
        send.send_request(request.body(Empty::<Bytes>::new())?)
            .await?
    };
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

/// `GET path` over plaintext HTTP/1.1.
async fn plain_get(addr: SocketAddr, path: &str) -> Result<String, BoxError> {
    get_over(TcpStream::connect(addr).await?, addr, false, path).await
}

/// `GET path` over mTLS as `client`, in HTTP/2 if `h2` (by ALPN), else HTTP/1.1.
async fn tls_get(
    addr: SocketAddr,
    client: &Identity,
    h2: bool,
    path: &str,
) -> Result<String, BoxError> {
    let alpn: &[u8] = if h2 { b"h2" } else { b"http/1.1" };
    let config = client.client_config(Vec::new(), &[alpn]);
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::IpAddress(addr.ip().into());
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await?;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(alpn), "ALPN");
    get_over(tls, addr, h2, path).await
}

#[tokio::test]
async fn strict_serves_mesh_clients_over_http1_and_h2_and_names_the_caller() {
    let ca = TestCa::new("mesh");
    let server = MeshServer::builder()
        .identity(ca.identity("serviceb"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let _stop = serve(server);
    let client = ca.identity("servicea");
    let caller = spiffe_id("servicea");

    let h1 = tls_get(addr, &client, false, "/one").await.unwrap();
    assert_eq!(h1, format!("HTTP/1.1 /one {caller}"));
    let h2 = tls_get(addr, &client, true, "/two").await.unwrap();
    assert_eq!(h2, format!("HTTP/2.0 /two {caller}"));
}

#[tokio::test]
async fn strict_refuses_plaintext_and_foreign_certificates_and_logs_each() {
    let (logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let metrics = Metrics::new();
    let server = MeshServer::builder()
        .identity(ca.identity("serviceb"))
        .metrics(metrics.clone())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let _stop = serve(server);

    assert!(plain_get(addr, "/").await.is_err(), "plaintext was served");
    // A client that trusts the mesh but whose certificate comes from another CA.
    let (cert, key) = TestCa::new("impostor").issue(&spiffe_id("servicea"));
    let impostor = Identity::from_pem(&cert, &key, ca.bundle_pem()).unwrap();
    assert!(tls_get(addr, &impostor, false, "/").await.is_err());

    let refused = eventually_lines(&logs, "refused a connection", 2).await;
    assert!(refused.iter().all(|l| l.contains("WARN")), "{refused:?}");
    assert!(
        refused[0].contains("plaintext connection refused") && refused[0].contains("127.0.0.1:"),
        "{refused:?}"
    );
    assert!(
        refused[1].contains("mTLS handshake failed: invalid peer certificate: unknown issuer"),
        "{refused:?}"
    );
    // Counted before they are logged.
    let text = metrics.render_text();
    for tls in ["false", "true"] {
        let line = format!("mesh_server_connections_total{{tls=\"{tls}\",result=\"refused\"}} 1");
        assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
    }
    assert!(!text.contains("result=\"accepted\""), "{text}");
}

#[tokio::test]
async fn the_inbound_listener_sets_the_mode_and_nothing_is_served_before_it() {
    let (logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .identity(ca.identity("serviceb"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    let _stop = serve(server);
    let client = ca.identity("servicea");

    let early = tokio::spawn(plain_get(addr, "/early"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !early.is_finished(),
        "served before the inbound listener came"
    );
    assert_eq!(
        logs.lines_with("waiting for inbound listener config").len(),
        1
    );

    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr, InboundTls::Permissive)));
    let early = early.await.unwrap().unwrap();
    assert_eq!(early, "HTTP/1.1 /early -");
    // Permissive: plaintext and mTLS on one port.
    assert_eq!(plain_get(addr, "/p").await.unwrap(), "HTTP/1.1 /p -");
    let caller = spiffe_id("servicea");
    let tls = tls_get(addr, &client, true, "/t").await.unwrap();
    assert_eq!(tls, format!("HTTP/2.0 /t {caller}"));

    // The mode follows the listener for new connections.
    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr, InboundTls::Strict)));
    let mut refused = false;
    for _ in 0..500 {
        if plain_get(addr, "/").await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        refused,
        "plaintext still served after the listener became STRICT"
    );
    let tls = tls_get(addr, &client, false, "/s").await.unwrap();
    assert_eq!(tls, format!("HTTP/1.1 /s {caller}"));
}

#[tokio::test]
async fn without_identity_a_strict_listener_is_an_error_and_plaintext_is_served() {
    let (logs, _guard) = support::logs::capture();
    let ads = FakeAds::start(World::default()).await;
    let server = MeshServer::builder()
        .bootstrap(ads.bootstrap())
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    ads.set(World::default().listener(&inbound(&ads.bootstrap(), addr, InboundTls::Strict)));
    let _stop = serve(server);

    assert_eq!(plain_get(addr, "/").await.unwrap(), "HTTP/1.1 / -");
    let errors = eventually_lines(&logs, "has no identity", 1).await;
    assert!(
        errors[0].contains("ERROR") && errors[0].contains("STRICT"),
        "{errors:?}"
    );
}

#[tokio::test]
async fn the_server_asks_for_the_listener_its_bootstrap_template_names() {
    // Logging on this thread too keeps tracing's per-callsite interest right for the tests
    // that capture logs at the same time.
    let (_logs, _guard) = support::logs::capture();
    let ca = TestCa::new("mesh");
    let ads = FakeAds::start(World::default()).await;
    let mut bootstrap = ads.bootstrap();
    bootstrap.server_listener_resource_name_template = Some("mesh/inbound/%s?v=1".into());
    let server = MeshServer::builder()
        .bootstrap(bootstrap.clone())
        .identity(ca.identity("serviceb"))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = server.local_addr();
    // The A36 default name says STRICT; the templated one, which the server must follow, says
    // PERMISSIVE: a plaintext call is served only if the server asked for the templated name.
    let templated = inbound(&bootstrap, addr, InboundTls::Permissive);
    assert_eq!(templated.name(), format!("mesh/inbound/{addr}?v=1"));
    ads.set(
        World::default()
            .listener(&inbound(&ads.bootstrap(), addr, InboundTls::Strict))
            .listener(&templated),
    );
    let _stop = serve(server);

    let served = tokio::time::timeout(Duration::from_secs(10), plain_get(addr, "/t")).await;
    assert_eq!(served.unwrap().unwrap(), "HTTP/1.1 /t -");
}

/// The inbound listener of a server at `addr` with `bootstrap`, in mode `tls`.
fn inbound(bootstrap: &Bootstrap, addr: SocketAddr, tls: InboundTls) -> Listener {
    Listener::Server(ServerListener {
        authorization: None,
        rate_limit: None,
        name: bootstrap.server_listener_name(addr),
        address: addr,
        routes: RouteSource::Rds("inbound".into()),
        tls,
    })
}

/// Waits for `count` log lines holding `needle`, and returns them.
async fn eventually_lines(logs: &support::logs::Logs, needle: &str, count: usize) -> Vec<String> {
    for _ in 0..500 {
        let lines = logs.lines_with(needle);
        if lines.len() >= count {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "fewer than {count} log lines with {needle:?}:\n{}",
        logs.text()
    );
}
