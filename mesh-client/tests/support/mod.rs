//! Test support: a fake ADS server holding a world of resources, a test CA, and loopback HTTP
//! servers (plaintext and mTLS).

#![allow(dead_code, unreachable_pub)]

pub mod ads;
pub mod certs;
pub mod model;
pub mod server;
pub mod telemetry;

use std::time::Duration;

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Retries `check` until it returns `Some`, for at most [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
