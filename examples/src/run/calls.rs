//! The demo's batches of calls through serviceA, and what the mesh did during each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::{Client, connect::HttpConnector};

use super::RunArgs;
use crate::service_a::{CallResult, Counters};
use crate::summary::Summary;

/// How many calls the demo keeps in flight, as concurrent users of serviceA would.
const IN_FLIGHT: usize = 8;

/// The note on the meshed batches' latency: every call was also written to two access logs.
const ACCESS_LOGS_ON: &str = "access logs on";

/// The batch of gRPC calls and the batch of HTTP calls through serviceA at `base`, with what
/// the mesh did during each when `meshed`.
pub(super) async fn batches(
    client: &Client<HttpConnector, Empty<Bytes>>,
    base: &str,
    args: &RunArgs,
    meshed: bool,
    route: &str,
) -> anyhow::Result<(Summary, Summary)> {
    wait_until_serving(client, &format!("{base}/call")).await?;
    let grpc_title = format!("gRPC: {} calls to demo.ServiceB/Get{route}", args.calls);
    let http_route = route.replace("xds:///", "http://");
    let http_title = format!("HTTP: {} calls to GET /hello{http_route}", args.http_calls);
    let before = counters(client, base, meshed).await?;
    let mut grpc = batch(client, &format!("{base}/call"), args.calls, grpc_title).await;
    let middle = counters(client, base, meshed).await?;
    let mut http = batch(
        client,
        &format!("{base}/call-http"),
        args.http_calls,
        http_title,
    )
    .await;
    let after = counters(client, base, meshed).await?;
    if meshed {
        grpc.record_mesh(middle.grpc.since(before.grpc));
        http.record_mesh(after.http.since(middle.http));
        // The meshed apps run with access logs on (see `deploy`); the plain ones do not.
        grpc.note_latency(ACCESS_LOGS_ON);
        http.note_latency(ACCESS_LOGS_ON);
    }
    Ok((grpc, http))
}

/// serviceA's mesh counters (zeros when not `meshed`).
async fn counters(
    client: &Client<HttpConnector, Empty<Bytes>>,
    base: &str,
    meshed: bool,
) -> anyhow::Result<Counters> {
    if !meshed {
        return Ok(Counters::default());
    }
    let body = get_body(client, &format!("{base}/counters"))
        .await
        .map_err(|e| anyhow::anyhow!("asking serviceA for its counters: {e}"))?;
    Ok(serde_json::from_slice(&body)?)
}

async fn wait_until_serving(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match get(client, url).await {
            Ok(_) => return Ok(()),
            Err(e) if tokio::time::Instant::now() > deadline => {
                anyhow::bail!("serviceA never answered {url} successfully: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `calls` calls to `url`, [`IN_FLIGHT`] at a time.
async fn batch(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
    calls: u32,
    title: String,
) -> Summary {
    let left = Arc::new(AtomicU32::new(calls));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (client, url, left) = (client.clone(), url.to_string(), left.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            while left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                results.push(get(&client, &url).await);
            }
            results
        });
    }
    let mut summary = Summary::new(title);
    for result in workers.join_all().await.into_iter().flatten() {
        match result {
            Ok(result) => summary.record_ok(
                &result.replica,
                result.upstream_us,
                result.client_identity.as_deref(),
                result.server_identity.as_deref(),
            ),
            Err(reason) => summary.record_failure(&reason),
        }
    }
    summary
}

pub(super) async fn get(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> Result<CallResult, String> {
    let body = get_body(client, url).await?;
    serde_json::from_slice(&body).map_err(|e| format!("bad answer from serviceA: {e}"))
}

pub(super) async fn get_body(
    client: &Client<HttpConnector, Empty<Bytes>>,
    url: &str,
) -> Result<Bytes, String> {
    let response = client
        .get(url.parse().map_err(|e| format!("{e}"))?)
        .await
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body).trim()
        ));
    }
    Ok(body)
}
