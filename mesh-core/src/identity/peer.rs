//! Who is at the other end of a TLS connection.

use std::fmt;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// The SPIFFE ID of the peer of a TLS connection: the URI SAN of its first certificate.
/// `None` if there is no certificate or it carries no single SPIFFE ID.
pub fn peer_spiffe_id(peer_certs: &[CertificateDer<'_>]) -> Option<spiffe::SpiffeId> {
    spiffe::cert::spiffe_id_from_der(peer_certs.first()?).ok()
}

/// The authenticated peer of a request or response, put into `http::Extensions` by
/// mesh-server (the client that called) and mesh-client (the server that answered).
/// Absent on plaintext connections.
///
/// It holds the SPIFFE ID and its text, rendered once when the connection is made
/// ([`as_str`](Self::as_str), [`Display`](fmt::Display)), so that reading the caller's ID in
/// a handler, a metric label or a log costs no formatting. Both are shared: handing the
/// identity to every request of a connection costs two reference counts, not a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity(pub Arc<spiffe::SpiffeId>, Arc<str>);

impl PeerIdentity {
    /// The peer identity `id`, its text rendered now.
    pub fn new(id: spiffe::SpiffeId) -> Self {
        let text = Arc::from(id.to_string());
        PeerIdentity(Arc::new(id), text)
    }

    /// The SPIFFE ID as text, e.g. `spiffe://cluster.local/ns/demo/sa/servicea`.
    pub fn as_str(&self) -> &str {
        &self.1
    }

    /// The SPIFFE ID as shared text: a clone is a reference count, for holders that outlive
    /// the identity (a metric label, say).
    pub fn shared_str(&self) -> &Arc<str> {
        &self.1
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_the_spiffe_id_rendered() {
        let text = "spiffe://cluster.local/ns/demo/sa/servicea";
        let peer = PeerIdentity::new(spiffe::SpiffeId::new(text).unwrap());
        assert_eq!(peer.as_str(), text);
        assert_eq!(peer.to_string(), text);
        assert_eq!(peer.0.to_string(), text);
        assert_eq!(&**peer.shared_str(), text);
    }
}
