//! Reading what the processes of a test expose: admin servers, Prometheus text, and
//! `promtool check metrics`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use examples::process::{ADMIN_MARKER, Proc};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;

/// Where promtool is installed (`scripts/test` installs it).
const PROMTOOL: &str = "/usr/bin/promtool";

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

/// The sum of every sample of metric `name` (all label sets) in Prometheus text; 0 when it has
/// none.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            let value = line.rsplit(' ').next()?;
            Some(
                value
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("{line:?}: {e}")),
            )
        })
        .sum()
}

/// Runs `promtool check metrics` on `text` (the metrics of `what`) and panics with its
/// complaints if it finds any.
pub fn promtool_check(what: &str, text: &str) {
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: `scripts/test` installs it (Debian package `prometheus`), \
         or install promtool there by hand"
    );
    let mut child = std::process::Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(text.as_bytes())
        .expect("writing to promtool");
    let out = child.wait_with_output().expect("running promtool");
    assert!(
        out.status.success(),
        "promtool check metrics refused the metrics of {what}:\n{}{}\n--- the metrics:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
