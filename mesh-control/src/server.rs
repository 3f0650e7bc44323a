//! Wiring: the ADS server, the CA, the config source and the registry, running together.
//!
//! [`serve`] takes the config as a `watch` channel (fed by a directory watcher, Kubernetes, or
//! a test), rebuilds the snapshot whenever the config or the self-registrations change, and
//! serves ADS and the certificate service until shutdown: in plaintext on one listener and,
//! when given a second, over TLS with a server certificate from the CA ([`crate::ca::tls`]).
//! Given an admin listener, it also serves the admin HTTP endpoint ([`crate::admin`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use spiffe::TrustDomain;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use mesh_core::telemetry::Metrics;

use crate::admin::{self, AdminState};
use crate::ads::{AdsServer, ClientRegistry};
use crate::ca::{CaService, CertificateAuthority, IssuedLog, TlsSetupError, tls};
use crate::config::{MeshConfig, Reloads};
use crate::registry::Registry;
use crate::snapshot::{self, BuildSettings, EmptyAssignments, Snapshot, foreign_ids};

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
    /// The TLS port could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The admin endpoint could not be served on its listener.
    #[error("cannot serve the admin endpoint: {0}; pick another --admin-addr")]
    Admin(io::Error),
}

/// Where the control server listens.
#[derive(Debug)]
pub struct Listeners {
    /// xDS and the CA in plaintext (`--xds-addr`, for development and local apps).
    pub plaintext: TcpListener,
    /// xDS and the CA over TLS (`--tls-addr`), if wanted.
    pub tls: Option<TcpListener>,
    /// The admin HTTP endpoint (`--admin-addr`), if wanted.
    pub admin: Option<TcpListener>,
}

/// How the control server runs.
#[derive(Clone, Debug)]
pub struct ServeSettings {
    /// For this long after the start, clusters without endpoints are withheld from EDS (see
    /// [`snapshot::publish`]); zero turns it off.
    pub warm_up: Duration,
    /// The CA that signs workload certificates; it also names the trust domain.
    pub ca: Arc<CertificateAuthority>,
    /// Where mesh-control's metrics are registered and read from by `/metrics`.
    pub metrics: Metrics,
    /// What config reloads did (fed by [`crate::config::watch_dir`]), shown by `/config`.
    pub reloads: Reloads,
}

impl ServeSettings {
    /// Settings for `ca` with no warm-up, the process's [`Metrics::global`] registry and no
    /// reloads yet.
    pub fn new(ca: Arc<CertificateAuthority>) -> Self {
        let metrics = Metrics::global().clone();
        Self {
            warm_up: Duration::ZERO,
            ca,
            reloads: Reloads::new(&metrics),
            metrics,
        }
    }

    /// The trust domain of the mesh's identities, such as `cluster.local`.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.ca.trust_domain()
    }
}

/// Binds the xDS address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Serves ADS and the certificate service on `listeners` for the config in `config` until
/// `shutdown` completes, keeping client status in `clients`.
pub async fn serve(
    listeners: Listeners,
    config: watch::Receiver<Arc<MeshConfig>>,
    clients: ClientRegistry,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let registry = Registry::new();
    let build = BuildSettings {
        empty: EmptyAssignments::while_warming(!settings.warm_up.is_zero()),
        ..BuildSettings::new(settings.trust_domain().clone())
    };
    let initial = Snapshot::build(&config.borrow(), &registry.current(), &build);
    let (snapshots_tx, snapshots) = watch::channel(Arc::new(initial));
    tokio::spawn(log_config_changes(
        config.clone(),
        settings.trust_domain().clone(),
    ));
    let issued = IssuedLog::new();
    let ca = CaService::new(
        settings.ca.clone(),
        config.clone(),
        issued.clone(),
        &settings.metrics,
    )
    .into_service();
    let admin = match listeners.admin {
        Some(listener) => {
            let state = AdminState {
                clients: clients.clone(),
                config: config.clone(),
                snapshots: snapshots.clone(),
                issued,
                reloads: settings.reloads.clone(),
                metrics: settings.metrics.clone(),
            };
            let handle = admin::serve(listener, state).map_err(ServeError::Admin)?;
            tracing::info!(
                "mesh-control admin endpoint on http://{}",
                handle.local_addr()
            );
            Some(handle)
        }
        None => None,
    };
    let publisher = tokio::spawn(snapshot::publish(
        config,
        registry.subscribe(),
        snapshots_tx,
        settings.warm_up,
        build.trust_domain,
    ));
    let tls = match listeners.tls {
        Some(listener) => {
            let cert = tls::ServerCertificate::new(settings.ca.clone())?;
            let tls_config = tls::server_config(cert.clone())?;
            Some((listener, tls_config, tokio::spawn(tls::renew(cert))))
        }
        None => None,
    };
    let renewer = tls.as_ref().map(|(_, _, renewer)| renewer.abort_handle());
    // Stopping the publisher drops the snapshot sender, which ends every ADS stream; without
    // that, the graceful shutdown would wait for clients that never hang up.
    let shutdown = async move {
        shutdown.await;
        publisher.abort();
        if let Some(renewer) = renewer {
            renewer.abort();
        }
        if let Some(admin) = admin {
            admin.shutdown().await;
        }
    }
    .boxed()
    .shared();

    let ads = AdsServer::new(snapshots, registry, clients, &settings.metrics).into_service();
    if let Ok(addr) = listeners.plaintext.local_addr() {
        tracing::info!("mesh-control listening on {addr}");
    }
    let plaintext = tonic::transport::Server::builder()
        .add_service(ads.clone())
        .add_service(ca.clone())
        .serve_with_incoming_shutdown(
            TcpListenerStream::new(listeners.plaintext),
            shutdown.clone(),
        );
    let tls = async move {
        let Some((listener, tls_config, _)) = tls else {
            return Ok(());
        };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("mesh-control serving xDS and the CA over TLS on {addr}");
        }
        tonic::transport::Server::builder()
            .add_service(ads)
            .add_service(ca)
            .serve_with_incoming_shutdown(tls::incoming(listener, tls_config), shutdown)
            .await
    };
    tokio::try_join!(plaintext, tls)?;
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

/// Logs what is served, at the start and on every reload, with the SPIFFE IDs of other trust
/// domains than `trust_domain` that its AuthorizationPolicies name.
async fn log_config_changes(
    mut config: watch::Receiver<Arc<MeshConfig>>,
    trust_domain: TrustDomain,
) {
    let mut reloaded = false;
    loop {
        let current = Arc::clone(&config.borrow_and_update());
        if reloaded {
            tracing::info!("config reloaded: serving {}", summary(&current));
        } else {
            tracing::info!("serving {}", summary(&current));
        }
        warn_of_foreign_ids(&current, &trust_domain);
        if config.changed().await.is_err() {
            return;
        }
        reloaded = true;
    }
}

/// Warns of the SPIFFE IDs that AuthorizationPolicies name in another trust domain: the config
/// loads without knowing mesh-control's trust domain, and no caller can prove such an ID.
fn warn_of_foreign_ids(config: &MeshConfig, trust_domain: &TrustDomain) {
    for (policy, id) in foreign_ids(config, trust_domain) {
        tracing::warn!(
            "AuthorizationPolicy {policy} names {id}, which is not in trust domain {trust_domain}: \
             no caller can prove it; name identities of spiffe://{trust_domain}/"
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

    /// Serves `one_service` plus a join token `dev-a` (demo/a) on a plaintext and a TLS port
    /// until `stopped` completes; returns both addresses and the CA.
    async fn start(
        stopped: impl Future<Output = ()> + Send + 'static,
    ) -> (
        SocketAddr,
        SocketAddr,
        Arc<CertificateAuthority>,
        tokio::task::JoinHandle<Result<(), ServeError>>,
        tempfile::TempDir,
    ) {
        let (dir, ca) = crate::ca::test_authority(Duration::from_secs(3600));
        let plaintext = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let tls = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addrs = (plaintext.local_addr().unwrap(), tls.local_addr().unwrap());
        let mut config = one_service();
        config.join_tokens.insert(
            "dev-a".into(),
            crate::config::WorkloadIdentity {
                namespace: "demo".into(),
                service_account: "a".into(),
            },
        );
        let config = watch::Sender::new(Arc::new(config));
        let listeners = Listeners {
            plaintext,
            tls: Some(tls),
            admin: None,
        };
        let settings = ServeSettings::new(ca.clone());
        let server = tokio::spawn(async move {
            let result = serve(
                listeners,
                config.subscribe(),
                ClientRegistry::new(),
                settings,
                stopped,
            )
            .await;
            drop(config);
            result
        });
        (addrs.0, addrs.1, ca, server, dir)
    }

    /// A gRPC channel over TLS to `addr` that trusts the CA's root and checks the name
    /// `localhost`.
    async fn tls_channel(addr: SocketAddr, ca: &CertificateAuthority) -> tonic::transport::Channel {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.root().cert_der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector(tower::service_fn(move |_| {
                let connector = connector.clone();
                async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await?;
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, io::Error>(hyper_util::rt::TokioIo::new(tls))
                }
            }))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_the_ca_in_plaintext_and_over_tls() {
        use mesh_core::identity::proto::IstioCertificateRequest;
        use mesh_core::identity::proto::istio_certificate_service_client::IstioCertificateServiceClient;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (plaintext, tls, ca, server, _dir) = start(async {
            let _ = stopped.await;
        })
        .await;
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::default()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        let request = |token: &str| {
            let mut request = tonic::Request::new(IstioCertificateRequest {
                csr: csr.clone(),
                validity_duration: 0,
            });
            let value = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
            request
        };
        let channels = [
            tonic::transport::Channel::from_shared(format!("http://{plaintext}"))
                .unwrap()
                .connect()
                .await
                .unwrap(),
            tls_channel(tls, &ca).await,
        ];
        for channel in channels {
            let mut client = IstioCertificateServiceClient::new(channel);
            let chain = client
                .create_certificate(request("dev-a"))
                .await
                .unwrap()
                .into_inner()
                .cert_chain;
            assert_eq!(chain.len(), 2);
            assert_eq!(chain[1], ca.root().cert_pem());
            let status = client
                .create_certificate(request("nope"))
                .await
                .unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert_eq!(status.message(), "unknown join token");
        }
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    }

    #[tokio::test]
    async fn stops_on_shutdown_even_with_a_client_connected() {
        use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, _, _, server, _dir) = start(async {
            let _ = stopped.await;
        })
        .await;
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
