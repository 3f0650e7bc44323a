//! The accept loop of an admin server: HTTP/1.1 and HTTP/2 without TLS for any request
//! handler, connections tracked so that stopping the server closes them.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// How long the server pauses after a failed accept (out of file descriptors, say).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How long a client may take to send a request head before its connection is closed, so an
/// idle or slow client cannot hold a connection forever.
pub(super) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `handler` on `listener` in a background task until the returned handle is dropped
/// or shut down. Call it inside a Tokio runtime.
///
/// Each connection gets its own task; stopping the server closes the connections still open.
/// Fails only when the listener's local address cannot be read.
pub fn serve_http<F, Fut>(listener: TcpListener, handler: F) -> io::Result<AdminHandle>
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept(listener, Arc::new(handler), stopped));
    Ok(AdminHandle {
        local_addr,
        _stop: stop,
        task,
    })
}

/// A running admin server; dropping it (or [`AdminHandle::shutdown`]) stops it.
#[derive(Debug)]
pub struct AdminHandle {
    local_addr: SocketAddr,
    /// Dropped, it ends the accept loop.
    _stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AdminHandle {
    /// The address the server listens on (with the real port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops the server and waits until it no longer listens and every connection is closed.
    pub async fn shutdown(self) {
        let AdminHandle { _stop, task, .. } = self;
        drop(_stop);
        // The task only ends by being told to; it does not panic on input.
        let _ = task.await;
    }
}

/// Accepts connections until `stopped`; connections still open then are closed.
async fn accept<F, Fut>(listener: TcpListener, handler: Arc<F>, mut stopped: oneshot::Receiver<()>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    http.http2().timer(TokioTimer::new());
    let http = Arc::new(http);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, http.clone(), handler.clone()));
                }
                Err(error) => {
                    tracing::warn!(%error, "admin server: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection<F, Fut>(
    stream: TcpStream,
    http: Arc<auto::Builder<TokioExecutor>>,
    handler: Arc<F>,
) where
    F: Fn(Request<Incoming>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let response = handler(request);
        async move { Ok::<_, Infallible>(response.await) }
    });
    if let Err(error) = http.serve_connection(TokioIo::new(stream), service).await {
        tracing::debug!(%error, "admin server: connection ended with an error");
    }
}
