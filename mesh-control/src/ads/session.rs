//! One ADS stream from start to end: registration, status, requests and pushes.

use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use futures_util::StreamExt;
use mesh_core::xds::type_url;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{mpsc, watch};
use tonic::{Status, Streaming};

use super::AdsServer;
use super::node::registrations;
use super::stream::StreamState;
use crate::snapshot::Snapshot;

/// Where responses go: the tonic response stream.
pub(crate) type Responses = mpsc::Sender<Result<DiscoveryResponse, Status>>;

/// Serves one stream until the client goes away or its request stream fails.
///
/// The first request names the node; its registrations (if any) and its status entry last
/// until this function returns, however it returns.
/// `peer_identity` is the SPIFFE ID of the client's certificate on an mTLS stream.
pub(crate) async fn run(
    server: AdsServer,
    mut requests: Streaming<DiscoveryRequest>,
    responses: Responses,
    peer_identity: Option<String>,
) {
    let first = tokio::select! {
        first = requests.next() => first,
        () = stopped(server.snapshots.clone()) => return,
        () = responses.closed() => return,
    };
    let first = match first {
        Some(Ok(request)) => request,
        Some(Err(status)) => {
            tracing::debug!(%status, "ADS stream failed before its first request");
            return;
        }
        None => return,
    };
    let node = first.node.clone().unwrap_or_default();
    let registered = match registrations(&node) {
        Ok(list) => list,
        Err(e) => {
            let message = format!(
                "node {:?}: {e}; fix the node metadata in its bootstrap",
                node.id
            );
            tracing::warn!(node = %node.id, "refusing an ADS stream: {e}");
            let _ = responses.send(Err(Status::invalid_argument(message))).await;
            return;
        }
    };
    let mut snapshots = server.snapshots.clone();
    warn_unknown_services(&node.id, &registered, &snapshots.borrow_and_update());
    for r in &registered {
        tracing::info!(node = %node.id, service = %r.service, address = %r.address, "endpoint registered");
    }
    let _registration = server.registry.register(registered);
    let client = server.clients.connect(&node.id, peer_identity);
    let _counted = CountedStream::new(&server.metrics.connected_clients);
    tracing::info!(node = %node.id, "ADS client connected");

    let mut state = StreamState::new(&node.id, client, server.metrics.clone());
    let mut next = Some(first);
    loop {
        if let Some(request) = next.take() {
            let snapshot = Arc::clone(&snapshots.borrow());
            if let Some(response) = state.on_request(&request, &snapshot)
                && responses.send(Ok(response)).await.is_err()
            {
                break;
            }
        }
        tokio::select! {
            request = requests.next() => match request {
                Some(Ok(request)) => next = Some(request),
                Some(Err(status)) => {
                    tracing::debug!(node = %node.id, %status, "ADS stream failed");
                    break;
                }
                None => break,
            },
            changed = snapshots.changed() => {
                if changed.is_err() {
                    break;
                }
                let snapshot = Arc::clone(&snapshots.borrow_and_update());
                if !send_all(&responses, state.on_snapshot(&snapshot)).await {
                    break;
                }
            }
            () = responses.closed() => break,
        }
    }
    tracing::info!(node = %node.id, "ADS client disconnected");
}

/// Counts a stream in the connected-clients gauge while it lives.
struct CountedStream(Gauge);

impl CountedStream {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Completes when the snapshot sender is dropped: the server is stopping.
async fn stopped(mut snapshots: watch::Receiver<Arc<Snapshot>>) {
    while snapshots.changed().await.is_ok() {}
}

async fn send_all(responses: &Responses, batch: Vec<DiscoveryResponse>) -> bool {
    for response in batch {
        if responses.send(Ok(response)).await.is_err() {
            return false;
        }
    }
    true
}

/// Registrations are kept either way; a warning helps find a typo in a service name.
fn warn_unknown_services(
    node: &str,
    registered: &[mesh_core::registration::Registration],
    snapshot: &Snapshot,
) {
    let listeners = snapshot.resources(type_url::LISTENER);
    for r in registered {
        if !listeners.is_some_and(|l| l.contains_key(r.service.as_str())) {
            tracing::warn!(
                node,
                service = %r.service,
                "registration for a service that is not configured; it is kept and takes effect when the Service is added"
            );
        }
    }
}
