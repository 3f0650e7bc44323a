//! Reading what the processes of a test expose: HTTP endpoints, admin servers, Prometheus
//! text, and `promtool check metrics`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use examples::process::{ADMIN_MARKER, Proc};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;

use super::assert_eventually;

/// What mesh-control logs before its admin server's address.
pub const CONTROL_ADMIN_MARKER: &str = "admin endpoint on http://";

/// The admin server address app `proc` printed (`... admin listening on ADDR`).
pub async fn admin_addr(proc: &Proc) -> SocketAddr {
    proc.addr_after(ADMIN_MARKER, Duration::from_secs(20))
        .await
        .unwrap()
}

/// The admin server address mesh-control `proc` logged.
pub async fn control_admin_addr(proc: &Proc) -> SocketAddr {
    proc.addr_after(CONTROL_ADMIN_MARKER, Duration::from_secs(20))
        .await
        .unwrap()
}

/// `GET url` over plain HTTP: the status code and the body as text.
pub async fn http_get(url: &str) -> (u16, String) {
    let client: Client<_, Empty<Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(Duration::from_secs(10), client.get(url.parse().unwrap()))
        .await
        .unwrap_or_else(|_| panic!("GET {url} took over 10 s"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The `/metrics` text of the admin server at `admin`.
pub async fn metrics(admin: SocketAddr) -> String {
    let (status, text) = http_get(&format!("http://{admin}/metrics")).await;
    assert_eq!(status, 200, "GET http://{admin}/metrics: {text}");
    text
}

/// Waits up to 20 s until `GET url` answers 200 (e.g. `/ready`, or a first call through serviceA).
pub async fn wait_ok(url: &str) {
    assert_eventually(
        &format!("GET {url} answers 200"),
        Duration::from_secs(20),
        || async {
            match http_get(url).await {
                (200, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}
