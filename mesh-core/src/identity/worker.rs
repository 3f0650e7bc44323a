//! Getting the first certificate, then keeping it fresh.
//!
//! [`first_svid`] retries with exponential backoff and jitter until the first certificate
//! arrives or the deadline passes; a refusal by the CA ends it at once, since asking again with
//! the same credential cannot help. [`rotate`] then runs in the background: at `rotate_at` of
//! the certificate's (remaining) lifetime it asks for a new one (new key, new CSR). While the CA is
//! unreachable it keeps the current certificate and retries, never waiting past the expiry.
//!
//! Each rotation and each failed renewal is counted, and the expiry gauge follows the current
//! certificate ([`IdentityMetrics`]).
//!
//! All waiting is on tokio's clock: a certificate's validity is turned into deadlines when it
//! arrives, so tests can run rotation on paused time.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::ExponentialBackoff;
use tokio::sync::watch;
use tokio::time::Instant;

use super::ca::{self, CertificateAuthority};
use super::metrics::IdentityMetrics;
use super::{IdentityError, Svid};

/// The first retry delay.
const MIN_BACKOFF: Duration = Duration::from_millis(500);
/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The shortest delay between retries while the current certificate is still valid.
const MIN_RETRY: Duration = Duration::from_millis(100);
/// The shortest time a certificate is used before renewing it, whatever its lifetime.
const MIN_RENEW_AFTER: Duration = Duration::from_secs(1);

fn backoff() -> ExponentialBackoff {
    crate::backoff::exponential(MIN_BACKOFF, MAX_BACKOFF)
}

/// Asks `ca` for a certificate until one arrives, the CA refuses, or `timeout` passes.
pub(crate) async fn first_svid(
    ca: &impl CertificateAuthority,
    timeout: Duration,
) -> Result<Svid, IdentityError> {
    let deadline = Instant::now() + timeout;
    let mut backoff = backoff();
    let mut last = None;
    while Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, ca::issue(ca)).await {
            Ok(Ok(svid)) => return Ok(svid),
            Ok(Err(e)) if e.is_refusal() => return Err(e),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "no workload certificate yet; retrying");
                last = Some(e);
            }
            Err(_elapsed) => break,
        }
        let delay = backoff.next().unwrap_or(MAX_BACKOFF);
        tokio::time::sleep_until(deadline.min(Instant::now() + delay)).await;
    }
    Err(IdentityError::Timeout {
        uri: ca.uri().to_string(),
        waited: timeout,
        last: Box::new(last.unwrap_or_else(|| IdentityError::CaUnreachable {
            uri: ca.uri().to_string(),
            reason: "no answer".into(),
        })),
    })
}

/// When to renew a certificate and when it expires, on tokio's clock.
struct Deadlines {
    renew: Instant,
    expiry: Instant,
}

impl Deadlines {
    /// Renews at `rotate_at` of the validity that is left when the certificate arrives: CAs
    /// backdate `not_before` for clock skew, and that part of the lifetime is no use to us.
    fn of(svid: &Svid, rotate_at: f64) -> Deadlines {
        let now = Instant::now();
        let wall = SystemTime::now();
        let usable = svid
            .not_after
            .duration_since(svid.not_before.max(wall))
            .unwrap_or_default();
        let valid_from = svid.not_before.duration_since(wall).unwrap_or_default();
        Deadlines {
            renew: now + (valid_from + usable.mul_f64(rotate_at)).max(MIN_RENEW_AFTER),
            expiry: now + svid.not_after.duration_since(wall).unwrap_or_default(),
        }
    }
}

/// Renews the certificate in `svids` forever; ends only when the task is aborted.
pub(crate) async fn rotate(
    ca: impl CertificateAuthority,
    rotate_at: f64,
    svids: watch::Sender<Arc<Svid>>,
    mut metrics: IdentityMetrics,
) {
    loop {
        let deadlines = Deadlines::of(&svids.borrow(), rotate_at);
        tokio::time::sleep_until(deadlines.renew).await;
        let svid = renew(&ca, &deadlines, &metrics).await;
        tracing::info!(
            spiffe_id = %svid.spiffe_id,
            not_after = ?svid.not_after,
            "rotated the workload certificate"
        );
        metrics.certificate(&svid);
        metrics.rotated();
        svids.send_replace(Arc::new(svid));
    }
}

/// Asks until the CA answers, logging the first failure as a warning and later ones as debug.
async fn renew(
    ca: &impl CertificateAuthority,
    deadlines: &Deadlines,
    metrics: &IdentityMetrics,
) -> Svid {
    let mut backoff = backoff();
    let mut failures = 0u32;
    let mut expiry_logged = false;
    loop {
        let error = match ca::issue(ca).await {
            Ok(svid) => return svid,
            Err(error) => error,
        };
        failures += 1;
        metrics.renewal_failed();
        let now = Instant::now();
        if now >= deadlines.expiry && !expiry_logged {
            expiry_logged = true;
            tracing::error!(%error, "the workload certificate expired and cannot be renewed; \
                mTLS handshakes will fail until the CA answers");
        } else if failures == 1 {
            tracing::warn!(%error, "cannot renew the workload certificate; keeping the current \
                one and retrying");
        } else {
            tracing::debug!(%error, failures, "still cannot renew the workload certificate");
        }
        let mut delay = backoff.next().unwrap_or(MAX_BACKOFF);
        let remaining = deadlines.expiry.saturating_duration_since(now);
        if !remaining.is_zero() {
            delay = delay.min(remaining / 2).max(MIN_RETRY);
        }
        tokio::time::sleep(delay).await;
    }
}
