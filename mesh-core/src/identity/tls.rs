//! rustls configurations that always use the current SVID.
//!
//! A config is built once and never rebuilt on rotation: its certificate resolver and its
//! verifier read the identity's current credentials at each handshake. What a handshake needs
//! from them (the signing key, the root store, the client verifier) is derived once per SVID
//! into a [`Material`] and cached, so a handshake costs a pointer comparison, not a parse.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SignatureScheme};

use super::verify::{SpiffeClientVerifier, SpiffeServerVerifier};
use super::{Identity, Svid};
use crate::model::StringMatch;

/// The crypto provider of every mesh TLS config: ring.
pub(crate) fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// What handshakes need from one SVID, derived once.
pub(crate) struct Material {
    /// The SVID this was derived from.
    pub(crate) svid: Arc<Svid>,
    /// The chain and signing key to present; `None` if the key cannot be loaded.
    pub(crate) certified_key: Option<Arc<CertifiedKey>>,
    /// The trust bundle as a root store.
    pub(crate) roots: Arc<RootCertStore>,
    /// Chain verification of client certificates against `roots`; `None` if no root parses.
    pub(crate) client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl Material {
    pub(crate) fn new(svid: Arc<Svid>) -> Material {
        let provider = Arc::new(provider());
        let certified_key =
            CertifiedKey::from_der(svid.cert_chain.clone(), svid.key.clone_key(), &provider)
                .inspect_err(|e| {
                    tracing::error!(spiffe_id = %svid.spiffe_id, error = %e,
                        "the workload key cannot be used; no certificate will be presented")
                })
                .ok()
                .map(Arc::new);
        let mut roots = RootCertStore::empty();
        roots.add_parsable_certificates(svid.trust_bundle.iter().cloned());
        let roots = Arc::new(roots);
        let client_verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider)
            .build()
            .inspect_err(|e| {
                tracing::error!(error = %e, "the trust bundle cannot verify client certificates")
            })
            .ok();
        Material {
            svid,
            certified_key,
            roots,
            client_verifier,
        }
    }
}

/// Presents the identity's current certificate, on either side of a connection.
#[derive(Debug)]
struct CurrentSvid(Identity);

impl ResolvesClientCert for CurrentSvid {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.0.material().certified_key.clone()
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for CurrentSvid {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.material().certified_key.clone()
    }
}

impl Identity {
    /// A client config that presents the current SVID (read at each handshake, so rotation
    /// needs no new config) and accepts a server whose chain leads to the current trust bundle
    /// and whose SPIFFE ID matches one of `peer_ids` (any, if empty). The server name is
    /// ignored: peers are verified by SPIFFE ID, not DNS name. `alpn`: e.g. `[b"h2"]` or
    /// `[b"http/1.1"]`. TLS 1.3 and 1.2, ring.
    pub fn client_config(&self, peer_ids: Vec<StringMatch>, alpn: &[&[u8]]) -> Arc<ClientConfig> {
        let provider = Arc::new(provider());
        let verifier = SpiffeServerVerifier::new(self.clone(), peer_ids, &provider);
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(Arc::new(CurrentSvid(self.clone())));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// A server config that presents the current SVID and requires a client certificate whose
    /// chain leads to the current trust bundle (any SPIFFE ID of the trust bundle; authorization
    /// decides who may do what); ALPN `h2` and `http/1.1`. TLS 1.3 and 1.2, ring.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let provider = Arc::new(provider());
        let verifier = SpiffeClientVerifier::new(self.clone(), &provider);
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(Arc::new(CurrentSvid(self.clone())));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}
