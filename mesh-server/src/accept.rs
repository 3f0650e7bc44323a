//! Accepting a connection in the server's mTLS mode.
//!
//! A meshed server with an identity accepts each connection in the mode of its inbound
//! listener:
//!
//! - **Strict**: the client must complete an mTLS handshake, presenting a certificate that chains
//!   to the mesh's trust bundle; plaintext is refused.
//! - **Permissive**: the first byte tells: a TLS record starts with `0x16` (a handshake record,
//!   here the ClientHello), which neither an HTTP/1 request line nor the HTTP/2 preface does;
//!   such a connection gets the mTLS handshake, any other one is served as plaintext.
//! - **Plaintext**: served as it comes.
//!
//! After a handshake the client's SPIFFE ID (its certificate's URI SAN) is the connection's
//! [`PeerIdentity`]. Deciding and handshaking must end within [`HANDSHAKE_TIMEOUT`], so a client
//! that connects and says nothing does not hold a task for ever.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mesh_core::identity::{PeerIdentity, describe_handshake_error, peer_spiffe_id};
use mesh_core::model::InboundTls;
use rustls::ServerConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a connection may take to show what it speaks and complete its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Accepts connections with the server's identity.
#[derive(Clone)]
pub(crate) struct Acceptor {
    tls: TlsAcceptor,
}

/// A connection ready to serve HTTP.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// As it came.
    Plaintext(TcpStream),
    /// After an mTLS handshake, with the client's identity.
    Tls(Box<TlsStream<TcpStream>>, Option<PeerIdentity>),
}

/// Why a connection was closed without being served.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// Plaintext in strict mode.
    #[error("plaintext connection refused: this server is STRICT (mTLS only)")]
    Plaintext,
    /// The mTLS handshake failed, e.g. the client certificate is not from the mesh's CA.
    #[error("mTLS handshake failed: {}", describe_handshake_error(.0))]
    Handshake(io::Error),
    /// The client did not complete the handshake in time.
    #[error("no mTLS handshake within {HANDSHAKE_TIMEOUT:?}")]
    Timeout,
    /// The connection closed or broke before it said anything.
    #[error("the connection ended before it said anything ({0})")]
    Ended(io::Error),
}

impl Refused {
    /// Whether the connection began an mTLS handshake (or was left waiting for one) before
    /// it was refused.
    pub(crate) fn began_tls(&self) -> bool {
        match self {
            Refused::Plaintext | Refused::Ended(_) => false,
            Refused::Handshake(_) | Refused::Timeout => true,
        }
    }
}

impl Acceptor {
    /// An acceptor presenting the identity of `config` (which asks for client certificates).
    pub(crate) fn new(config: Arc<ServerConfig>) -> Self {
        Self {
            tls: TlsAcceptor::from(config),
        }
    }

    /// Accepts `stream` in `mode`.
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        mode: InboundTls,
    ) -> Result<Accepted, Refused> {
        if mode == InboundTls::Plaintext {
            return Ok(Accepted::Plaintext(stream));
        }
        let accepting = async {
            if !starts_with_tls(&stream).await? {
                return match mode {
                    InboundTls::Strict => Err(Refused::Plaintext),
                    _ => Ok(Accepted::Plaintext(stream)),
                };
            }
            let stream = self.tls.accept(stream).await.map_err(Refused::Handshake)?;
            let peer = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(peer_spiffe_id)
                .map(PeerIdentity::new);
            Ok(Accepted::Tls(Box::new(stream), peer))
        };
        tokio::time::timeout(HANDSHAKE_TIMEOUT, accepting)
            .await
            .unwrap_or(Err(Refused::Timeout))
    }
}

/// Whether the first byte the client sent starts a TLS handshake; waits for it without
/// consuming it.
async fn starts_with_tls(stream: &TcpStream) -> Result<bool, Refused> {
    let mut first = [0u8; 1];
    match stream.peek(&mut first).await {
        Ok(0) => Err(Refused::Ended(io::ErrorKind::UnexpectedEof.into())),
        Ok(_) => Ok(first[0] == TLS_HANDSHAKE_RECORD),
        Err(error) => Err(Refused::Ended(error)),
    }
}

#[cfg(test)]
#[path = "accept_tests.rs"]
mod tests;
