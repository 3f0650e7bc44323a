//! serviceB's failure modes, for showing what the mesh does about failing and slow replicas.
//!
//! A replica may fail a share of its calls (`--fail-rate`), answer late (`--delay`) or never
//! answer at all (`--stall`: it accepts connections and requests, and its handlers wait
//! forever). It counts the calls it received and how many it failed, and logs both when it
//! stops, so tests and the demo can measure the load a client really put on it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;

/// How a replica misbehaves; all off by default.
#[derive(Args, Debug, Clone, Default)]
pub struct FailureModes {
    /// The share of calls that fail (0 to 1): gRPC calls with UNAVAILABLE, HTTP `/hello` with
    /// 503.
    #[arg(long, env = "SERVICEB_FAIL_RATE", default_value_t = 0.0, value_parser = parse_share)]
    pub fail_rate: f64,
    /// How long every call waits before it is answered (or failed), e.g. `50ms` or `2s`.
    #[arg(long, env = "SERVICEB_DELAY", value_parser = parse_duration)]
    pub delay: Option<Duration>,
    /// Accept connections and requests but never answer: every handler waits forever.
    #[arg(long, env = "SERVICEB_STALL")]
    pub stall: bool,
}

/// What a replica does with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Answer normally.
    Answer,
    /// Fail it (gRPC UNAVAILABLE, HTTP 503).
    Fail,
}

/// The failure modes of a replica in action, with its counts of calls.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    modes: FailureModes,
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    received: AtomicU64,
    failed: AtomicU64,
}

impl Behaviour {
    /// A replica behaving as `modes` say.
    pub fn new(modes: FailureModes) -> Self {
        Self {
            modes,
            counts: Arc::default(),
        }
    }

    /// Counts a call, waits as the modes say (forever when stalling), and decides its fate.
    pub async fn on_call(&self) -> Verdict {
        self.counts.received.fetch_add(1, Ordering::Relaxed);
        if self.modes.stall {
            std::future::pending::<()>().await;
        }
        if let Some(delay) = self.modes.delay {
            tokio::time::sleep(delay).await;
        }
        if self.modes.fail_rate > 0.0 && rand::random::<f64>() < self.modes.fail_rate {
            self.counts.failed.fetch_add(1, Ordering::Relaxed);
            Verdict::Fail
        } else {
            Verdict::Answer
        }
    }

    /// The line a replica logs when it stops, e.g. `calls received: 120, failed: 31`
    /// ([`parse_counts`] reads it back).
    pub fn counts_line(&self) -> String {
        format!(
            "calls received: {}, failed: {}",
            self.counts.received.load(Ordering::Relaxed),
            self.counts.failed.load(Ordering::Relaxed)
        )
    }

    /// What the modes are, for the replica's startup line: e.g. `fails 30 % of calls`.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.modes.stall {
            parts.push("never answers (--stall)".to_string());
        }
        if let Some(delay) = self.modes.delay {
            parts.push(format!("waits {delay:?} per call"));
        }
        if self.modes.fail_rate > 0.0 {
            parts.push(format!(
                "fails {} % of calls",
                (self.modes.fail_rate * 1000.0).round() / 10.0
            ));
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }
}

/// Reads `(received, failed)` back from the last [`Behaviour::counts_line`] in `log`.
pub fn parse_counts(log: &str) -> Option<(u64, u64)> {
    let line = log.lines().rev().find(|l| l.contains("calls received: "))?;
    let rest = line.split("calls received: ").nth(1)?;
    let (received, rest) = rest.split_once(", failed: ")?;
    let failed = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((received.parse().ok()?, failed.parse().ok()?))
}

/// A share of calls from 0 to 1, e.g. `0.3`.
pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!(
            "`{text}` is not a share of calls: give a number from 0 to 1, e.g. 0.3"
        )),
    }
}

/// A duration such as `50ms`, `2s` or `1m`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let bad = || format!("`{text}` is not a duration: give a number and ms, s or m, e.g. 50ms");
    let n: u64 = number.parse().map_err(|_| bad())?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(60 * n)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_shares() {
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("50").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert_eq!(parse_share("0.3"), Ok(0.3));
        assert!(parse_share("30").is_err());
        assert!(parse_share("-0.1").is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn fails_the_configured_share_and_counts_calls() {
        let b = Behaviour::new(FailureModes {
            fail_rate: 0.3,
            ..FailureModes::default()
        });
        let mut failed = 0;
        for _ in 0..2000 {
            if b.on_call().await == Verdict::Fail {
                failed += 1;
            }
        }
        // 30 % of 2000: a binomial sd of about 20.
        assert!((500..=700).contains(&failed), "{failed}");
        assert_eq!(
            parse_counts(&format!("INFO serviceb {}\n", b.counts_line())),
            Some((2000, failed))
        );
        assert_eq!(b.describe().as_deref(), Some("fails 30 % of calls"));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_and_stalls() {
        let slow = Behaviour::new(FailureModes {
            delay: Some(Duration::from_millis(50)),
            ..FailureModes::default()
        });
        let start = tokio::time::Instant::now();
        assert_eq!(slow.on_call().await, Verdict::Answer);
        assert_eq!(start.elapsed(), Duration::from_millis(50));

        let stalled = Behaviour::new(FailureModes {
            stall: true,
            ..FailureModes::default()
        });
        let call = tokio::time::timeout(Duration::from_secs(3600), stalled.on_call());
        assert!(call.await.is_err(), "a stalled replica answered");
        assert_eq!(parse_counts(&stalled.counts_line()), Some((1, 0)));
    }
}
