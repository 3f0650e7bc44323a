//! xDS and the CA over TLS (port 15012 by default).
//!
//! mesh-control's TLS port presents a certificate from its own CA, for the SPIFFE ID
//! `spiffe://<trust-domain>/ns/mesh-system/sa/mesh-control` plus the names a local client dials
//! (`localhost`, `127.0.0.1`), so a client that trusts the mesh's root can verify it either by
//! SPIFFE ID or by name. The certificate is renewed at 70 % of its life ([`renew`]); handshakes
//! read the current one, so renewal needs no restart. Client certificates are optional: when
//! one is sent it must chain to the root. gRPC runs over it (ALPN `h2`).
//!
//! [`incoming`] turns a TCP listener into the stream of TLS connections tonic serves, doing
//! each handshake in its own task so that a slow client does not hold up the others.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, SanType};
use rustls::RootCertStore;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::error::TlsSetupError;
use super::issue::{CertificateAuthority, IssuedCert};
use crate::config::WorkloadIdentity;

/// The share of its life after which the server certificate is renewed.
const RENEW_AT: f64 = 0.7;
/// How long to wait before trying again when renewal fails.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long a client may take to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The identity mesh-control's own certificate certifies.
pub fn control_identity() -> WorkloadIdentity {
    WorkloadIdentity {
        namespace: "mesh-system".to_string(),
        service_account: "mesh-control".to_string(),
    }
}

/// The server certificate of the TLS port: the current one, and how to get the next.
#[derive(Debug)]
pub struct ServerCertificate {
    authority: Arc<CertificateAuthority>,
    current: RwLock<(Arc<CertifiedKey>, IssuedCert)>,
}

impl ServerCertificate {
    /// Issues a first certificate from `authority`.
    pub fn new(authority: Arc<CertificateAuthority>) -> Result<Arc<Self>, TlsSetupError> {
        let first = issue(&authority)?;
        Ok(Arc::new(Self {
            authority,
            current: RwLock::new(first),
        }))
    }

    /// The certificate handshakes present now.
    pub fn current(&self) -> IssuedCert {
        self.read().1.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<CertifiedKey>, IssuedCert)> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.read().0.clone())
    }
}

/// A fresh key and a certificate for it.
fn issue(
    authority: &CertificateAuthority,
) -> Result<(Arc<CertifiedKey>, IssuedCert), TlsSetupError> {
    let failed = |e: &dyn std::fmt::Display| TlsSetupError::new(format!("server certificate: {e}"));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| failed(&e))?;
    let localhost = "localhost".try_into().map_err(|e| failed(&e))?;
    let sans = vec![
        SanType::DnsName(localhost),
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    ];
    let issued = authority
        .issue_for_key(&key, &control_identity(), sans)
        .map_err(|e| failed(&e))?;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing_key = rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(|e| failed(&e))?;
    let certified = CertifiedKey::new(issued.chain_der.clone(), signing_key);
    Ok((Arc::new(certified), issued))
}

/// The rustls config of the TLS port: presents `cert`, accepts clients with or without a
/// certificate of the mesh, speaks HTTP/2.
pub fn server_config(cert: Arc<ServerCertificate>) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(cert.authority.root().cert_der().clone())
        .map_err(|e| TlsSetupError::new(format!("the CA root as trust anchor: {e}")))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsSetupError::new(format!("client verifier: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::new(format!("protocol versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// When `issued` should be renewed, from now: at [`RENEW_AT`] of its life.
fn renew_in(issued: &IssuedCert) -> Duration {
    let life = issued
        .not_after
        .duration_since(issued.issued_at)
        .unwrap_or_default();
    let due = issued.issued_at + life.mul_f64(RENEW_AT);
    due.duration_since(SystemTime::now()).unwrap_or_default()
}

/// Renews `cert` at 70 % of its life, forever (retrying every 30 s when issuing fails).
pub async fn renew(cert: Arc<ServerCertificate>) {
    loop {
        tokio::time::sleep(renew_in(&cert.current())).await;
        loop {
            match issue(&cert.authority) {
                Ok(next) => {
                    tracing::info!(
                        serial = %next.1.serial,
                        expires = %time::OffsetDateTime::from(next.1.not_after),
                        "renewed the TLS server certificate"
                    );
                    *cert.current.write().unwrap_or_else(PoisonError::into_inner) = next;
                    break;
                }
                Err(e) => {
                    tracing::warn!("{e}; trying again in {}s", RETRY_AFTER.as_secs());
                    tokio::time::sleep(RETRY_AFTER).await;
                }
            }
        }
    }
}

/// The TLS connections made on `listener`, for tonic's `serve_with_incoming`. Accepting stops
/// when the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> ReceiverStream<io::Result<TlsStream<TcpStream>>> {
    let (tx, rx) = mpsc::channel(16);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!("cannot accept a TLS connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests;
