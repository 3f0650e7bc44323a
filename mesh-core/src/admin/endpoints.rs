//! What each admin endpoint answers; no sockets here.

use bytes::Bytes;
use http::header::{ACCEPT, ALLOW, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::Full;
use tokio::sync::watch;

use crate::telemetry::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
use crate::xds::client::XdsClient;

/// The paths served, in the order the 404 lists them.
const PATHS: [&str; 4] = ["/metrics", "/config_dump", "/healthz", "/ready"];

const PLAIN_TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// The admin server's state: what the endpoints report on.
pub(crate) struct Endpoints {
    pub(crate) metrics: Metrics,
    pub(crate) xds: Option<XdsClient>,
    pub(crate) ready: Option<watch::Receiver<bool>>,
}

impl Endpoints {
    /// The answer to `method path`.
    pub(crate) async fn respond(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Response<Full<Bytes>> {
        if !PATHS.contains(&path) {
            let body = format!(
                "no admin endpoint at {path}; try GET {}\n",
                PATHS.join(", ")
            );
            return reply(StatusCode::NOT_FOUND, PLAIN_TEXT, body);
        }
        if method != Method::GET {
            let mut response = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                PLAIN_TEXT,
                format!("{path} answers GET only\n"),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return response;
        }
        match path {
            "/metrics" => metrics_response(&self.metrics, headers),
            "/config_dump" => self.config_dump().await,
            "/healthz" => reply(StatusCode::OK, PLAIN_TEXT, "ok"),
            _ => self.ready(),
        }
    }

    async fn config_dump(&self) -> Response<Full<Bytes>> {
        let Some(xds) = &self.xds else {
            let body = "this app has no xDS client, so there is no config to dump; \
                        give it to the admin server with mesh_core::admin::builder().xds(client)\n";
            return reply(StatusCode::NOT_FOUND, PLAIN_TEXT, body);
        };
        match serde_json::to_string_pretty(&xds.config_dump().await) {
            Ok(json) => reply(StatusCode::OK, JSON, json),
            Err(error) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                PLAIN_TEXT,
                format!("cannot write the config dump as JSON: {error}\n"),
            ),
        }
    }

    fn ready(&self) -> Response<Full<Bytes>> {
        let ready = self.ready.as_ref().is_none_or(|ready| *ready.borrow());
        if ready {
            reply(StatusCode::OK, PLAIN_TEXT, "ready")
        } else {
            reply(StatusCode::SERVICE_UNAVAILABLE, PLAIN_TEXT, "not ready")
        }
    }
}

/// The answer to a scrape of `metrics`: OpenMetrics when the request's `Accept` header asks
/// for `application/openmetrics-text`, the Prometheus text format 0.0.4 otherwise.
pub fn metrics_response(metrics: &Metrics, request_headers: &HeaderMap) -> Response<Full<Bytes>> {
    if accepts_openmetrics(request_headers) {
        let text = metrics.render_openmetrics();
        reply(StatusCode::OK, OPENMETRICS_CONTENT_TYPE, text)
    } else {
        reply(StatusCode::OK, TEXT_CONTENT_TYPE, metrics.render_text())
    }
}

/// Whether the `Accept` header lists `application/openmetrics-text` with a weight above 0.
fn accepts_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media_type = parts.next().unwrap_or_default();
            let refused = parts.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media_type.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
}

fn reply(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn openmetrics_is_chosen_only_when_accepted() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.6,\
                          text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert!(accepts_openmetrics(&accept(prometheus)));
        assert!(accepts_openmetrics(&accept("Application/OpenMetrics-Text")));
        assert!(!accepts_openmetrics(&accept("text/plain;version=0.0.4")));
        assert!(!accepts_openmetrics(&accept("*/*")));
        assert!(!accepts_openmetrics(&accept(
            "application/openmetrics-text;q=0"
        )));
        assert!(!accepts_openmetrics(&HeaderMap::new()));
    }
}
