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
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub use status::{ClientRegistry, ClientStatus, Nack, TypeStatus};

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
}

impl AdsServer {
    /// Serves `snapshots`, registers endpoints in `registry` and keeps client status in
    /// `clients`.
    pub fn new(
        snapshots: watch::Receiver<Arc<Snapshot>>,
        registry: Registry,
        clients: ClientRegistry,
    ) -> Self {
        Self {
            snapshots,
            registry,
            clients,
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
        tokio::spawn(session::run(self.clone(), request.into_inner(), tx));
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

#[cfg(test)]
mod tests;
