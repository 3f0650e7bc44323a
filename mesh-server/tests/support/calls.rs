//! Calls to a meshed server over real sockets: gRPC (hand-framed over h2) and HTTP/1.1, in
//! plaintext or over mTLS.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use envoy_types::pb::google::protobuf::StringValue;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use mesh_core::identity::Identity;
use mesh_server::BoxError;
use prost::Message;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How a test client reaches the server.
pub enum Via<'a> {
    /// Plaintext.
    Plain,
    /// mTLS as this identity.
    Mtls(&'a Identity),
}

/// A transport to the server.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

async fn connect(addr: SocketAddr, via: &Via<'_>, alpn: &[u8]) -> Result<Box<dyn Io>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    match via {
        Via::Plain => Ok(Box::new(tcp)),
        Via::Mtls(identity) => {
            let config = identity.client_config(Vec::new(), &[alpn]);
            let name = ServerName::IpAddress(addr.ip().into());
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(Box::new(tls))
        }
    }
}

/// What a gRPC call ended with.
#[derive(Debug)]
pub struct GrpcAnswer {
    /// `grpc-status`.
    pub status: String,
    /// `grpc-message`, if any.
    pub message: String,
    /// The headers (and, for trailers-only answers, the status).
    pub headers: HeaderMap,
    /// The reply message's value, for a successful call.
    pub reply: Option<String>,
}

/// Calls unary `path` with a `StringValue` holding `value`.
pub async fn grpc(
    addr: SocketAddr,
    via: &Via<'_>,
    path: &str,
    value: &str,
) -> Result<GrpcAnswer, BoxError> {
    let io = TokioIo::new(connect(addr, via, b"h2").await?);
    let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
    tokio::spawn(conn);
    let message = StringValue {
        value: value.to_string(),
    }
    .encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len())?);
    frame.put_slice(&message);
    let scheme = if matches!(via, Via::Plain) {
        "http"
    } else {
        "https"
    };
    let request = Request::post(format!("{scheme}://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame.freeze()))?;
    let response = send.send_request(request).await?;
    let headers = response.headers().clone();
    let collected = response.into_body().collect().await?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let bytes = collected.to_bytes();
    let field = |name: &str| {
        trailers
            .get(name)
            .or_else(|| headers.get(name))
            .map(|v| v.to_str().unwrap_or_default().to_string())
    };
    let reply = match bytes.get(5..) {
        Some(body) if !body.is_empty() => Some(StringValue::decode(body)?.value),
        _ => None,
    };
    Ok(GrpcAnswer {
        status: field("grpc-status").unwrap_or_default(),
        message: field("grpc-message").unwrap_or_default(),
        headers,
        reply,
    })
}

/// `GET path` over HTTP/1.1: status, headers and body.
pub async fn get(
    addr: SocketAddr,
    via: &Via<'_>,
    path: &str,
) -> Result<(StatusCode, HeaderMap, String), BoxError> {
    let io = TokioIo::new(connect(addr, via, b"http/1.1").await?);
    let (mut send, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())?;
    let response = send.send_request(request).await?;
    let (status, headers) = (response.status(), response.headers().clone());
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, headers, String::from_utf8(body.to_vec())?))
}
