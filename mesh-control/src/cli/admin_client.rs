//! Reading the admin endpoint of a running mesh-control, for `status`, `config` and `certs`.
//!
//! A request, from connecting to the last byte of the answer, gets [`TIMEOUT`]: a hung
//! endpoint makes the command fail, not hang.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

/// The default admin endpoint, where `serve` listens unless told otherwise.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:15014";

/// How long a request to the admin endpoint may take in all.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Why the admin endpoint gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The URL is not an http URL.
    #[error("{url:?} is not an admin URL: {reason}; pass --admin http://HOST:PORT")]
    BadUrl {
        /// The URL asked for.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing answered.
    #[error(
        "cannot reach the mesh-control admin endpoint at {url}: {reason}; is mesh-control \
         running? point --admin at its --admin-addr"
    )]
    Unreachable {
        /// The URL asked for.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// It did not answer in time.
    #[error(
        "the mesh-control admin endpoint at {url} did not answer within {timeout:?}; is it \
         overloaded, or is --admin pointing at something else?"
    )]
    TimedOut {
        /// The URL asked for.
        url: String,
        /// How long the CLI waited.
        timeout: Duration,
    },
    /// It answered with an error.
    #[error("{url} answered {status}: {message}")]
    Refused {
        /// The URL asked for.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error it gave.
        message: String,
    },
    /// It answered something else than what this command reads.
    #[error(
        "{url} answered something unexpected ({reason}); are the CLI and server versions the same?"
    )]
    BadAnswer {
        /// The URL asked for.
        url: String,
        /// What could not be read.
        reason: String,
    },
}

/// Fetches `path` from the admin endpoint at `base` and reads it as JSON, within [`TIMEOUT`].
pub(crate) async fn get<T: DeserializeOwned>(base: &str, path: &str) -> Result<T, AdminError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    match tokio::time::timeout(TIMEOUT, fetch(&url)).await {
        Ok(answer) => answer,
        Err(_) => Err(AdminError::TimedOut {
            url,
            timeout: TIMEOUT,
        }),
    }
}

async fn fetch<T: DeserializeOwned>(url: &str) -> Result<T, AdminError> {
    let url = url.to_string();
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| AdminError::BadUrl {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    if uri.scheme_str() != Some("http") {
        return Err(AdminError::BadUrl {
            url,
            reason: "only http:// is served".to_string(),
        });
    }
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let unreachable = |reason: String| AdminError::Unreachable {
        url: url.clone(),
        reason,
    };
    let response = client.get(uri).await.map_err(|e| {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            reason.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        unreachable(reason)
    })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| unreachable(e.to_string()))?
        .to_bytes();
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error")?.as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        return Err(AdminError::Refused {
            url,
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&body).map_err(|e| AdminError::BadAnswer {
        url,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_endpoint_times_out() {
        // Accepts connections (the backlog does) but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let started = tokio::time::Instant::now();
        let err = get::<serde_json::Value>(&base, "/clients")
            .await
            .unwrap_err();
        assert!(matches!(err, AdminError::TimedOut { .. }), "{err}");
        assert!(err.to_string().contains(&base), "{err}");
        assert!(started.elapsed() >= TIMEOUT);
        drop(listener);
    }
}
