//! Reading what the processes of a test expose: HTTP endpoints, admin servers, Prometheus
//! text, and `promtool check metrics`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use examples::process::{ADMIN_MARKER, Proc};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use tokio::io::AsyncWriteExt;

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

/// `promtool` on `PATH` (`scripts/test` installs it: Debian package `prometheus`).
fn promtool() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("promtool"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "promtool is not on PATH: `scripts/test` installs it (Debian package \
                 `prometheus`), or install promtool by hand"
            )
        })
}

/// Runs `promtool check metrics` on `text` (the metrics of `what`) and panics with its
/// complaints if it finds any.
pub async fn promtool_check(what: &str, text: &str) {
    let mut child = tokio::process::Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting promtool");
    let mut stdin = child.stdin.take().expect("promtool's stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("writing to promtool");
    drop(stdin);
    let out = child.wait_with_output().await.expect("running promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refused the metrics of {what}:\n{}{}\n--- the metrics:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
