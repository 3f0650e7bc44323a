//! The admin server over a real loopback socket.

use std::net::SocketAddr;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::serve::HEADER_READ_TIMEOUT;
use super::{AdminError, AdminHandle, builder};
use crate::bootstrap::Bootstrap;
use crate::telemetry::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::xds::client::XdsClient;

/// Generous: the machine is loaded.
const TIMEOUT: Duration = Duration::from_secs(20);

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Sends one HTTP/1.1 request and reads the whole answer.
async fn request(addr: SocketAddr, method: &str, path: &str, accept: Option<&str>) -> Reply {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let accept = accept
            .map(|a| format!("accept: {a}\r\n"))
            .unwrap_or_default();
        let request =
            format!("{method} {path} HTTP/1.1\r\nhost: admin\r\n{accept}connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(TIMEOUT, exchange).await.unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None).await
}

async fn serve(admin: super::AdminBuilder) -> AdminHandle {
    admin.serve("127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn counted_metrics() -> Metrics {
    let metrics = Metrics::new();
    metrics.part(|registry| {
        let calls = Counter::<u64>::default();
        calls.inc();
        registry.register("admin_test_calls", "Calls made", calls.clone());
        calls
    });
    metrics
}

#[tokio::test]
async fn metrics_are_prometheus_text_unless_openmetrics_is_accepted() {
    let admin = serve(builder().metrics(counted_metrics())).await;

    let text = get(admin.local_addr(), "/metrics").await;
    assert_eq!(text.status, 200);
    assert_eq!(text.header("content-type"), Some(TEXT_CONTENT_TYPE));
    assert!(
        text.body
            .contains("# TYPE mesh_admin_test_calls_total counter\n"),
        "{}",
        text.body
    );
    assert!(
        text.body.contains("mesh_admin_test_calls_total 1\n"),
        "{}",
        text.body
    );
    assert!(!text.body.contains("# EOF"), "{}", text.body);

    let accept = "application/openmetrics-text;version=1.0.0;q=0.6,text/plain;q=0.3";
    let open = request(admin.local_addr(), "GET", "/metrics", Some(accept)).await;
    assert_eq!(open.status, 200);
    assert_eq!(open.header("content-type"), Some(OPENMETRICS_CONTENT_TYPE));
    assert!(
        open.body.contains("# TYPE mesh_admin_test_calls counter\n"),
        "{}",
        open.body
    );
    assert!(open.body.ends_with("# EOF\n"), "{}", open.body);
}

#[tokio::test]
async fn health_and_readiness_follow_the_app() {
    let (ready, readiness) = watch::channel(false);
    let admin = serve(builder().metrics(Metrics::new()).ready(readiness)).await;
    let addr = admin.local_addr();

    let health = get(addr, "/healthz").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let not_ready = get(addr, "/ready").await;
    assert_eq!(
        (not_ready.status, not_ready.body.as_str()),
        (503, "not ready")
    );
    ready.send_replace(true);
    let is_ready = get(addr, "/ready").await;
    assert_eq!((is_ready.status, is_ready.body.as_str()), (200, "ready"));
    ready.send_replace(false);
    assert_eq!(get(addr, "/ready").await.status, 503);
}

#[tokio::test]
async fn ready_by_default() {
    let admin = serve(builder().metrics(Metrics::new())).await;
    assert_eq!(get(admin.local_addr(), "/ready").await.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_say_what_is_served() {
    let admin = serve(builder().metrics(Metrics::new())).await;
    let addr = admin.local_addr();

    let unknown = get(addr, "/stats").await;
    assert_eq!(unknown.status, 404);
    for path in ["/metrics", "/config_dump", "/healthz", "/ready"] {
        assert!(unknown.body.contains(path), "{}", unknown.body);
    }
    let posted = request(addr, "POST", "/healthz", None).await;
    assert_eq!(posted.status, 405);
    assert_eq!(posted.header("allow"), Some("GET"));
    let no_xds = get(addr, "/config_dump").await;
    assert_eq!(no_xds.status, 404);
    assert!(no_xds.body.contains("no xDS client"), "{}", no_xds.body);
}

#[tokio::test]
async fn config_dump_is_the_xds_clients_json() {
    // Nothing listens there: the dump shows the origin and no connection.
    let bootstrap = Bootstrap::insecure("127.0.0.1:1", "node-under-test");
    let xds = XdsClient::builder().bootstrap(bootstrap).build().unwrap();
    let admin = serve(builder().metrics(Metrics::new()).xds(xds)).await;

    let dump = get(admin.local_addr(), "/config_dump").await;
    assert_eq!(dump.status, 200);
    assert_eq!(dump.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&dump.body).unwrap();
    assert_eq!(json["node_id"], "node-under-test", "{}", dump.body);
    assert_eq!(json["server_uri"], "127.0.0.1:1", "{}", dump.body);
    assert_eq!(json["connected"], false, "{}", dump.body);
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let admin = serve(builder().metrics(Metrics::new())).await;
    let addr = admin.local_addr();
    assert_eq!(get(addr, "/healthz").await.status, 200);
    admin.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_taken_address_is_an_error_naming_it() {
    let first = serve(builder().metrics(Metrics::new())).await;
    let taken = first.local_addr();
    let error = builder().serve(taken).await.unwrap_err();
    assert!(matches!(error, AdminError::Bind { addr, .. } if addr == taken));
    assert!(error.to_string().contains(&taken.to_string()), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_never_ends_its_request_head_is_dropped() {
    let admin = serve(builder().metrics(Metrics::new())).await;
    let mut stream = TcpStream::connect(admin.local_addr()).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\n")
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut answer = Vec::new();
    // Paused time moves to the next timer whenever everything waits: the header read timeout.
    let closed = tokio::time::timeout(TIMEOUT * 10, stream.read_to_end(&mut answer)).await;
    assert!(closed.is_ok(), "the connection is still open");
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(!answer.contains("200 OK"), "{answer}");
}
