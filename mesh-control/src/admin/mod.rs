//! The admin HTTP endpoint (default `127.0.0.1:15014`): metrics, health, and what
//! mesh-control knows of its clients, config and certificates, as JSON for people and for
//! the `status`, `config` and `certs` commands.
//!
//! | path | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics when `Accept` asks for it |
//! | `GET /healthz` | `ok` |
//! | `GET /clients` | a JSON array of [`ClientView`], oldest stream first |
//! | `GET /clients/{node_id}` | one [`ClientView`] with the resource names sent (404 if unknown) |
//! | `GET /config` | a [`ConfigView`]: services, routes, policies, version, last reload error |
//! | `GET /certs` | a JSON array of [`CertView`], newest first |
//!
//! Errors are JSON too: `{"error": "..."}`. The endpoint has no authentication: bind it to
//! loopback (the default) or a trusted network.

mod views;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use mesh_core::telemetry::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[cfg(test)]
pub(crate) use views::timestamp;
pub use views::{
    CertView, ClientView, ConfigView, NackView, PortView, ReloadErrorView, ServiceView, TYPES,
    TypeView,
};

use crate::ads::ClientRegistry;
use crate::ca::IssuedLog;
use crate::config::{MeshConfig, Reloads};
use crate::snapshot::Snapshot;

/// What the admin endpoint reads from; every part is a cheap, shared handle.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The connected clients.
    pub clients: ClientRegistry,
    /// The config being served.
    pub config: watch::Receiver<Arc<MeshConfig>>,
    /// The snapshots being served (for their version).
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The certificates issued.
    pub issued: IssuedLog,
    /// The outcome of config reloads.
    pub reloads: Reloads,
    /// The metrics to expose.
    pub metrics: Metrics,
}

/// Serves the admin endpoint on `listener` until the task is dropped or aborted.
pub async fn serve(listener: TcpListener, state: AdminState) {
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: let some close.
                tracing::warn!("admin endpoint: cannot accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = handle(&request, &state);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await
            {
                tracing::debug!("admin connection ended: {e}");
            }
        });
    }
}

/// The response to one request.
fn handle(request: &Request<Incoming>, state: &AdminState) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let path = request.uri().path();
    match path {
        "/metrics" => metrics(request, &state.metrics),
        "/healthz" => text(StatusCode::OK, TEXT_PLAIN, "ok\n".to_string()),
        "/clients" => json(&views::clients(state)),
        "/config" => json(&views::config(state)),
        "/certs" => json(&views::certs(state)),
        _ => match path.strip_prefix("/clients/") {
            Some(node_id) if !node_id.is_empty() => match views::client(state, node_id) {
                Some(client) => json(&client),
                None => error(
                    StatusCode::NOT_FOUND,
                    &format!("no client with node id {node_id:?} is connected; see /clients"),
                ),
            },
            _ => error(
                StatusCode::NOT_FOUND,
                "unknown path; try /metrics, /healthz, /clients, /clients/{node_id}, /config or /certs",
            ),
        },
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

fn metrics(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let openmetrics = request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    if openmetrics {
        text(
            StatusCode::OK,
            OPENMETRICS_CONTENT_TYPE,
            metrics.render_openmetrics(),
        )
    } else {
        text(StatusCode::OK, TEXT_CONTENT_TYPE, metrics.render_text())
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn json(value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string_pretty(value) {
        Ok(body) => text(StatusCode::OK, "application/json", body + "\n"),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message }).to_string() + "\n";
    text(status, "application/json", body)
}
