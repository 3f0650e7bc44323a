//! The admin HTTP endpoint (default `127.0.0.1:15014`): metrics, health, and what
//! mesh-control knows of its clients, config and certificates, as JSON for people and for
//! the `status`, `config` and `certs` commands.
//!
//! | path | answer |
//! |---|---|
//! | `GET /metrics` | Prometheus text 0.0.4, or OpenMetrics when `Accept` asks for it |
//! | `GET /healthz` | `ok` |
//! | `GET /clients` | a JSON array of [`ClientView`], oldest stream first |
//! | `GET /clients/{node_id}` | one [`ClientView`] with the resource names sent (404 if unknown); the node id percent-encoded |
//! | `GET /config` | a [`ConfigView`]: services, routes, policies, version, last reload error |
//! | `GET /certs` | a JSON array of [`CertView`], newest first |
//!
//! Errors are JSON too: `{"error": "..."}`. The endpoint has no authentication: bind it to
//! loopback (the default) or a trusted network. The HTTP serving itself (connections, timeouts,
//! shutdown, content negotiation of `/metrics`) is mesh-core's
//! ([`mesh_core::admin::serve_http`]); this module only answers requests.

mod views;

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use mesh_core::admin::{AdminHandle, metrics_response, serve_http};
use mesh_core::telemetry::Metrics;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::watch;

#[cfg(test)]
pub(crate) use views::timestamp;
pub use views::{
    CertView, ClientView, ConfigView, IdentitySource, NackView, PortView, ReloadErrorView,
    ServiceView, TypeView,
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

/// Serves the admin endpoint on `listener` in the background until the handle is dropped or
/// shut down. Fails only if the listener has no local address.
pub fn serve(listener: TcpListener, state: AdminState) -> std::io::Result<AdminHandle> {
    serve_http(listener, move |request| {
        std::future::ready(handle(&request, &state))
    })
}

/// The response to one request.
fn handle<B>(request: &Request<B>, state: &AdminState) -> Response<Full<Bytes>> {
    if request.method() != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let path = request.uri().path();
    match path {
        "/metrics" => metrics_response(&state.metrics, request.headers()),
        "/healthz" => text(StatusCode::OK, TEXT_PLAIN, "ok\n".to_string()),
        "/clients" => json(&views::clients(state)),
        "/config" => json(&views::config(state)),
        "/certs" => json(&views::certs(state)),
        _ => match path.strip_prefix("/clients/") {
            Some(encoded) if !encoded.is_empty() => client(state, encoded),
            _ => error(
                StatusCode::NOT_FOUND,
                "unknown path; try /metrics, /healthz, /clients, /clients/{node_id}, /config or /certs",
            ),
        },
    }
}

/// `GET /clients/{node_id}`, the node id percent-encoded.
fn client(state: &AdminState, encoded: &str) -> Response<Full<Bytes>> {
    let Ok(node_id) = percent_decode_str(encoded).decode_utf8() else {
        return error(
            StatusCode::BAD_REQUEST,
            "the node id is not UTF-8 once percent-decoded; percent-encode its UTF-8 bytes",
        );
    };
    match views::client(state, &node_id) {
        Some(client) => json(&client),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("no client with node id {node_id:?} is connected; see /clients"),
        ),
    }
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::WorkloadIdentity;

    fn state() -> AdminState {
        let metrics = Metrics::new();
        AdminState {
            clients: ClientRegistry::new(),
            config: watch::Sender::new(Arc::default()).subscribe(),
            snapshots: watch::Sender::new(Arc::default()).subscribe(),
            issued: IssuedLog::new(),
            reloads: Reloads::new(&metrics),
            metrics,
        }
    }

    fn get(state: &AdminState, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::get(path).body(()).unwrap();
        let response = handle(&request, state);
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body());
        let bytes = futures_util::FutureExt::now_or_never(body)
            .expect("a full body is ready")
            .unwrap()
            .to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[test]
    fn a_percent_encoded_node_id_is_found() {
        let state = state();
        let _entry = state.clients.connect("a/b c", None);
        let (status, body) = get(&state, "/clients/a%2Fb%20c");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["node_id"], "a/b c");
        assert!(body["types"]["LDS"]["resources"].is_array(), "{body}");
        let (status, body) = get(&state, "/clients/a%2Fb");
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = get(&state, "/clients/%FF");
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn an_identity_says_whether_it_is_proven_or_claimed() {
        let state = state();
        let (_dir, ca) = crate::ca::test_authority(Duration::from_secs(60));
        let key = rcgen::KeyPair::generate().unwrap();
        let identity = WorkloadIdentity {
            namespace: "demo".into(),
            service_account: "a".into(),
        };
        let issued = ca.issue_for_key(&key, &identity, Vec::new()).unwrap();
        state.issued.record(&issued, Some("a-1".into()));
        let _claimed = state.clients.connect("a-1", None);
        let _proven = state
            .clients
            .connect("b-1", Some("spiffe://cluster.local/ns/demo/sa/b".into()));
        let _unknown = state.clients.connect("c-1", None);
        let (_, body) = get(&state, "/clients");
        let sources: Vec<_> = body
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["identity"].clone(), c["identity_source"].clone()))
            .collect();
        assert_eq!(
            sources,
            [
                (
                    "spiffe://cluster.local/ns/demo/sa/a".into(),
                    "claimed".into()
                ),
                (
                    "spiffe://cluster.local/ns/demo/sa/b".into(),
                    "certificate".into()
                ),
                (serde_json::Value::Null, serde_json::Value::Null),
            ]
        );
        assert!(body[0]["types"]["LDS"].get("resources").is_none(), "{body}");
    }
}
