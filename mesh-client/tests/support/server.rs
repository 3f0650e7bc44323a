//! Loopback HTTP servers (HTTP/1.1 and HTTP/2 on one port, plaintext or mTLS) that say who they
//! are.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use mesh_core::identity::{Identity, peer_spiffe_id};
use tokio::net::TcpListener;

/// Starts a server answering `NAME VERSION HOST PATH` (`HOST` from the `host` header, or the
/// URI authority over HTTP/2).
pub async fn start(name: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                let host = req
                    .headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
                    .or_else(|| req.uri().authority().map(|a| a.to_string()))
                    .unwrap_or_default();
                let body = format!("{name} {:?} {host} {}", req.version(), req.uri().path());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            });
            tokio::spawn(async move {
                let executor = hyper_util::rt::TokioExecutor::new();
                let http = hyper_util::server::conn::auto::Builder::new(executor);
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = http.serve_connection(io, service).await;
            });
        }
    });
    addr
}

/// Starts an mTLS server as `identity`, answering `NAME VERSION PATH CALLER` (`CALLER`: the
/// client's SPIFFE ID). Failed handshakes just close their connection.
pub async fn start_tls(name: &'static str, identity: &Identity) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(identity.server_config());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let caller = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(peer_spiffe_id)
                    .map(|id| id.to_string())
                    .unwrap_or_default();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let body = format!("{name} {:?} {} {caller}", req.version(), req.uri().path());
                    async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
                });
                let executor = hyper_util::rt::TokioExecutor::new();
                let http = hyper_util::server::conn::auto::Builder::new(executor);
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = http.serve_connection(io, service).await;
            });
        }
    });
    addr
}

/// The body of a response, as text.
pub async fn text(response: Response<mesh_client::ResponseBody>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}
