//! The ADS server: xDS v3 state of the world over one gRPC stream per client.
//!
//! Each client opens `StreamAggregatedResources` and subscribes to Listeners, RouteConfigurations,
//! Clusters and ClusterLoadAssignments by name. [`AdsServer`] answers from the current
//! [`Snapshot`] and pushes what changed whenever a new one is published on its `watch`
//! channel. The protocol state of one stream lives in `stream`, its lifecycle (registration,
//! status, the loop) in `session`. Delta xDS is not served.

mod node;
mod session;
mod status;
mod stream;

use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use mesh_core::telemetry::Metrics;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

pub use status::{ClientRegistry, ClientStatus, Nack, SyncState, TypeStatus};

use crate::metrics::ControlMetrics;
use crate::registry::Registry;
use crate::snapshot::Snapshot;

/// How many responses may wait for a slow client before the stream stops reading.
const RESPONSE_BUFFER: usize = 16;

/// The aggregated discovery service. Cheap to clone.
///
/// Dropping the sender of its snapshot channel ends every stream (a server shutting down).
#[derive(Clone, Debug)]
pub struct AdsServer {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    registry: Registry,
    clients: ClientRegistry,
    metrics: ControlMetrics,
}

impl AdsServer {
    /// Serves `snapshots`, registers endpoints in `registry`, keeps client status in
    /// `clients` and counts in `metrics`.
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        registry: Registry,
        clients: ClientRegistry,
        metrics: &Metrics,
    ) -> Self {
        Self {
            snapshots,
            registry,
            clients,
            metrics: ControlMetrics::of(metrics),
        }
    }

    /// The tonic service to add to a `tonic::transport::Server`.
    pub fn into_service(self) -> AggregatedDiscoveryServiceServer<Self> {
        AggregatedDiscoveryServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for AdsServer {
    type StreamAggregatedResourcesStream = ReceiverStream<Result<DiscoveryResponse, Status>>;
    type DeltaAggregatedResourcesStream =
        futures_util::stream::Empty<Result<DeltaDiscoveryResponse, Status>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let (tx, rx) = mpsc::channel(RESPONSE_BUFFER);
        let peer_identity = peer_spiffe_id(&request).map(|id| id.to_string());
        tokio::spawn(session::run(
            self.clone(),
            request.into_inner(),
            tx,
            peer_identity,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "mesh-control serves state-of-the-world xDS only; \
             use StreamAggregatedResources (delta xDS is not supported)",
        ))
    }
}

/// What tonic records of a connection of the TLS port ([`crate::ca::tls::incoming`]); tonic
/// names the type only with its own TLS features on, so it is reached through the trait.
type TlsInfo = <tokio_rustls::server::TlsStream<tokio::net::TcpStream> as Connected>::ConnectInfo;

/// The SPIFFE ID of the client's certificate, on a stream of the TLS port.
fn peer_spiffe_id<T>(request: &Request<T>) -> Option<spiffe::SpiffeId> {
    let tls = request.extensions().get::<TlsInfo>()?;
    mesh_core::identity::peer_spiffe_id(&tls.peer_certs()?)
}

#[cfg(test)]
mod tests;
