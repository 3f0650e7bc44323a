//! Wiring: the ADS server, the config source and the registry, running together.
//!
//! [`serve`] takes the config as a `watch` channel (fed by a directory watcher, Kubernetes, or
//! a test), rebuilds the snapshot whenever the config or the self-registrations change, and
//! serves ADS on a listener until shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::ads::{AdsServer, ClientRegistry};
use crate::config::MeshConfig;
use crate::registry::Registry;
use crate::snapshot::{self, EmptyAssignments, Snapshot};

/// Why the control server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The xDS address could not be bound.
    #[error(
        "cannot listen on {addr}: {source}; is another mesh-control running? pick another --xds-addr"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// The gRPC server failed.
    #[error("the xDS server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Binds the xDS address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves ADS on `listener` for the config in `config` until `shutdown` completes, keeping
/// client status in `clients`. For `warm_up` after the start, clusters without endpoints are
/// withheld from EDS (see [`snapshot::publish`]).
pub async fn serve(
    listener: TcpListener,
    config: watch::Receiver<Arc<MeshConfig>>,
    clients: ClientRegistry,
    warm_up: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let registry = Registry::new();
    let empty = if warm_up.is_zero() {
        EmptyAssignments::Send
    } else {
        EmptyAssignments::Withhold
    };
    let initial = Snapshot::build(&config.borrow(), &registry.current(), empty);
    let (snapshots_tx, snapshots) = watch::channel(Arc::new(initial));
    tokio::spawn(log_config_changes(config.clone()));
    let publisher = tokio::spawn(snapshot::publish(
        config,
        registry.subscribe(),
        snapshots_tx,
        warm_up,
    ));
    // Stopping the publisher drops the snapshot sender, which ends every ADS stream; without
    // that, the graceful shutdown would wait for clients that never hang up.
    let shutdown = async move {
        shutdown.await;
        publisher.abort();
    };

    let ads = AdsServer::new(snapshots, registry, clients);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("mesh-control listening on {addr}");
    }
    tonic::transport::Server::builder()
        .add_service(ads.into_service())
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    tracing::info!("mesh-control stopped");
    Ok(())
}

/// `N services, M routes, K endpoints` (static endpoints only).
pub fn summary(config: &MeshConfig) -> String {
    let ports = config.services.values().flat_map(|s| &s.ports);
    let (routes, endpoints) = ports.fold((0, 0), |(r, e), p| {
        (r + p.routes.len(), e + p.endpoints.len())
    });
    format!(
        "{} services, {routes} routes, {endpoints} endpoints",
        config.services.len()
    )
}

async fn log_config_changes(mut config: watch::Receiver<Arc<MeshConfig>>) {
    tracing::info!("serving {}", summary(&config.borrow_and_update()));
    while config.changed().await.is_ok() {
        tracing::info!(
            "config reloaded: serving {}",
            summary(&config.borrow_and_update())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::tests::one_service;

    #[test]
    fn summary_counts_services_routes_and_endpoints() {
        assert_eq!(summary(&one_service()), "1 services, 2 routes, 1 endpoints");
    }

    #[tokio::test]
    async fn binding_a_taken_address_says_which() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = bind(addr).await.unwrap_err().to_string();
        assert!(err.contains(&addr.to_string()), "{err}");
    }

    #[tokio::test]
    async fn stops_on_shutdown_even_with_a_client_connected() {
        use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;

        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = watch::Sender::new(Arc::new(one_service()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            config.subscribe(),
            ClientRegistry::new(),
            Duration::ZERO,
            async {
                let _ = stopped.await;
            },
        ));
        let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        // A stream that never sends and never hangs up.
        let mut stream = ads
            .stream_aggregated_resources(futures_util::stream::pending())
            .await
            .unwrap()
            .into_inner();
        stop.send(()).unwrap();
        let ended =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.message()).await;
        assert!(matches!(ended, Ok(Ok(None))), "{ended:?}");
        let result = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    }
}
