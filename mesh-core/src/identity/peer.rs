//! Who is at the other end of a TLS connection.

use rustls::pki_types::CertificateDer;

/// The SPIFFE ID of the peer of a TLS connection: the URI SAN of its first certificate.
/// `None` if there is no certificate or it carries no single SPIFFE ID.
pub fn peer_spiffe_id(peer_certs: &[CertificateDer<'_>]) -> Option<spiffe::SpiffeId> {
    spiffe::cert::spiffe_id_from_der(peer_certs.first()?).ok()
}

/// The authenticated peer of a request or response, put into `http::Extensions` by
/// mesh-server (the client that called) and mesh-client (the server that answered).
/// Absent on plaintext connections. Shared, so that handing it to every request of a
/// connection costs a reference count, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity(pub std::sync::Arc<spiffe::SpiffeId>);

impl PeerIdentity {
    /// The peer identity `id`.
    pub fn new(id: spiffe::SpiffeId) -> Self {
        PeerIdentity(std::sync::Arc::new(id))
    }
}
