//! mTLS connections: TCP, then a rustls handshake that proves both sides' SPIFFE identities.
//!
//! [`TlsConnector`] is what hyper-util's pooled client dials with for a cluster that asks for
//! mTLS: a plain [`HttpConnector`] (with `TCP_NODELAY`) whose stream is then wrapped by
//! tokio-rustls, using the client config the workload's [`Identity`] made for the cluster (its
//! accepted server SPIFFE IDs and the ALPN of its HTTP version). The identity reads its current
//! certificate at each handshake, so a rotation needs no new config: pooled connections keep
//! working and new ones present the new certificate.
//!
//! The server's SPIFFE ID rides on the connection as [`PeerIdentity`], which hyper-util copies
//! into the extensions of every response received on it.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use mesh_core::identity::{PeerIdentity, describe_handshake_error, peer_spiffe_id};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::BoxError;

/// The ALPN protocol id of HTTP/2.
pub(crate) const ALPN_H2: &[u8] = b"h2";
/// The ALPN protocol id of HTTP/1.1.
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Dials `https://IP:PORT` URIs: TCP, then an mTLS handshake.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    tcp: HttpConnector,
    tls: tokio_rustls::TlsConnector,
}

impl TlsConnector {
    /// A connector that handshakes with `config`.
    pub(crate) fn new(config: Arc<ClientConfig>) -> Self {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        // The URIs are https: TLS is ours to do on top of the TCP stream.
        tcp.enforce_http(false);
        Self {
            tcp,
            tls: tokio_rustls::TlsConnector::from(config),
        }
    }
}

/// The handshake with an endpoint failed, and why (for instance the server's SPIFFE ID is not
/// one the cluster accepts, or its certificate is not from the mesh's CA).
#[derive(Debug, thiserror::Error)]
#[error("mTLS handshake failed: {}", describe_handshake_error(.0))]
pub(crate) struct HandshakeError(io::Error);

type Connecting = Pin<Box<dyn Future<Output = Result<TlsConnection, BoxError>> + Send>>;

impl tower::Service<Uri> for TlsConnector {
    type Response = TlsConnection;
    type Error = BoxError;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.tcp.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Connecting {
        let server_name = server_name(&uri);
        let tcp = self.tcp.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let server_name = server_name?;
            let tcp = tcp.await?.into_inner();
            let stream = tls
                .connect(server_name, tcp)
                .await
                .map_err(HandshakeError)?;
            Ok(TlsConnection::new(stream))
        })
    }
}

/// The name rustls is given for the server: its IP address. Peers are verified by SPIFFE ID,
/// so it only matters in that an IP address sends no SNI.
fn server_name(uri: &Uri) -> Result<ServerName<'static>, BoxError> {
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => Ok(ServerName::IpAddress(ip.into())),
        Err(_) => Ok(ServerName::try_from(host.to_string())?),
    }
}

/// An established mTLS connection, as hyper-util's client uses it.
pub(crate) struct TlsConnection {
    io: TokioIo<TlsStream<TcpStream>>,
    peer: Option<PeerIdentity>,
    h2: bool,
}

impl TlsConnection {
    fn new(stream: TlsStream<TcpStream>) -> Self {
        let session = stream.get_ref().1;
        let peer = session
            .peer_certificates()
            .and_then(peer_spiffe_id)
            .map(PeerIdentity::new);
        let h2 = session.alpn_protocol() == Some(ALPN_H2);
        Self {
            io: TokioIo::new(stream),
            peer,
            h2,
        }
    }
}

impl Connection for TlsConnection {
    fn connected(&self) -> Connected {
        let mut connected = self.io.inner().get_ref().0.connected();
        if let Some(peer) = &self.peer {
            connected = connected.extra(peer.clone());
        }
        if self.h2 {
            connected = connected.negotiated_h2();
        }
        connected
    }
}

impl Read for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_endpoint_ip() {
        let name = server_name(&"https://127.0.0.1:8443/x".parse().unwrap()).unwrap();
        assert_eq!(
            name,
            ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into())
        );
        let name = server_name(&"https://[::1]:8443/".parse().unwrap()).unwrap();
        assert_eq!(
            name,
            ServerName::IpAddress("::1".parse::<IpAddr>().unwrap().into())
        );
    }
}
