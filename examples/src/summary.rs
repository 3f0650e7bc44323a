//! The demo's summary: how many calls succeeded, which replicas answered, and how fast.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;

/// Results of a batch of calls.
#[derive(Debug)]
pub struct Summary {
    title: String,
    ok: u64,
    failures: BTreeMap<String, u64>,
    replicas: BTreeMap<String, u64>,
    /// (serviceA as serviceB saw it, serviceB as serviceA authenticated it) -> calls.
    identities: BTreeMap<(Option<String>, Option<String>), u64>,
    upstream_us: Histogram<u64>,
}

impl Summary {
    /// An empty summary for a batch described by `title`.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ok: 0,
            failures: BTreeMap::new(),
            replicas: BTreeMap::new(),
            identities: BTreeMap::new(),
            upstream_us: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        }
    }

    /// Records a call answered by `replica` whose upstream call took `upstream_us`, with the
    /// client's identity as the server saw it and the server's as the client authenticated it
    /// (`None` over plaintext).
    pub fn record_ok(
        &mut self,
        replica: &str,
        upstream_us: u64,
        client_identity: Option<&str>,
        server_identity: Option<&str>,
    ) {
        self.ok += 1;
        *self.replicas.entry(replica.to_string()).or_default() += 1;
        let key = (
            client_identity.map(str::to_string),
            server_identity.map(str::to_string),
        );
        *self.identities.entry(key).or_default() += 1;
        let _ = self.upstream_us.record(upstream_us.max(1));
    }

    /// Records a failed call.
    pub fn record_failure(&mut self, reason: &str) {
        *self.failures.entry(reason.to_string()).or_default() += 1;
    }

    /// How many calls failed.
    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }

    /// How many calls each replica answered.
    pub fn replicas(&self) -> &BTreeMap<String, u64> {
        &self.replicas
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.ok + self.failed();
        writeln!(f, "  {}", self.title)?;
        writeln!(
            f,
            "    status    {} of {total} OK, {} failed",
            self.ok,
            self.failed()
        )?;
        for (reason, n) in &self.failures {
            writeln!(f, "              {n} x {reason}")?;
        }
        let share = |n: u64| 100.0 * n as f64 / self.ok.max(1) as f64;
        let replicas: Vec<String> = self
            .replicas
            .iter()
            .map(|(name, n)| format!("{name} {n} ({:.1} %)", share(*n)))
            .collect();
        writeln!(f, "    replicas  {}", replicas.join(", "))?;
        for ((client, server), n) in &self.identities {
            match server {
                Some(server) => writeln!(
                    f,
                    "    mTLS      {n} calls: serviceA {} -> serviceB {server}",
                    client
                        .as_deref()
                        .unwrap_or("(identity not reported over HTTP)")
                )?,
                None => writeln!(f, "    plaintext {n} calls (no peer identities)")?,
            }
        }
        if self.ok > 0 {
            let ms = |q: f64| self.upstream_us.value_at_quantile(q) as f64 / 1000.0;
            writeln!(
                f,
                "    latency   serviceA -> serviceB p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
                ms(0.5),
                ms(0.9),
                ms(0.99)
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_shares() {
        let mut s = Summary::new("gRPC");
        for _ in 0..8 {
            s.record_ok(
                "v1",
                100,
                Some("spiffe://td/ns/a/sa/a"),
                Some("spiffe://td/ns/b/sa/b"),
            );
        }
        s.record_ok("v2", 300, None, None);
        s.record_failure("HTTP 502");
        assert_eq!(s.failed(), 1);
        assert_eq!(s.replicas()["v1"], 8);
        let text = s.to_string();
        assert!(text.contains("9 of 10 OK, 1 failed"), "{text}");
        assert!(text.contains("v1 8 (88.9 %)"), "{text}");
        assert!(
            text.contains(
                "8 calls: serviceA spiffe://td/ns/a/sa/a -> serviceB spiffe://td/ns/b/sa/b"
            ),
            "{text}"
        );
        assert!(text.contains("plaintext 1 calls"), "{text}");
    }
}
