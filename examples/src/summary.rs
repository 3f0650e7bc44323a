//! The demo's summary: how many calls succeeded, which replicas answered, how fast, and what
//! the mesh's resilience policies did to get there.

use std::collections::BTreeMap;
use std::fmt;

use hdrhistogram::Histogram;
use mesh_client::CounterSnapshot;
use serde::{Deserialize, Serialize};

/// What a client's resilience policies did: [`CounterSnapshot`] in a form that crosses process
/// boundaries (serviceA reports it at `GET /counters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeshCounters {
    /// Attempts sent to an endpoint, first attempts and retries alike.
    pub attempts: u64,
    /// Retries sent.
    pub retries: u64,
    /// Retries not sent because the retry budget was spent.
    pub budget_exhausted: u64,
    /// Requests refused by a circuit breaker.
    pub breaker_overflows: u64,
    /// Endpoints ejected by outlier detection.
    pub ejections: u64,
    /// Requests delayed by fault injection.
    pub injected_delays: u64,
    /// Requests failed by fault injection.
    pub injected_aborts: u64,
}

impl From<CounterSnapshot> for MeshCounters {
    fn from(c: CounterSnapshot) -> Self {
        Self {
            attempts: c.attempts,
            retries: c.retries,
            budget_exhausted: c.budget_exhausted,
            breaker_overflows: c.breaker_overflows,
            ejections: c.ejections,
            injected_delays: c.injected_delays,
            injected_aborts: c.injected_aborts,
        }
    }
}

impl MeshCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: MeshCounters) -> MeshCounters {
        MeshCounters {
            attempts: self.attempts.saturating_sub(earlier.attempts),
            retries: self.retries.saturating_sub(earlier.retries),
            budget_exhausted: self
                .budget_exhausted
                .saturating_sub(earlier.budget_exhausted),
            breaker_overflows: self
                .breaker_overflows
                .saturating_sub(earlier.breaker_overflows),
            ejections: self.ejections.saturating_sub(earlier.ejections),
            injected_delays: self.injected_delays.saturating_sub(earlier.injected_delays),
            injected_aborts: self.injected_aborts.saturating_sub(earlier.injected_aborts),
        }
    }
}

/// `n` and the noun, singular or plural: `1 retry`, `2 retries`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for MeshCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} refused by the retry budget), {}, {} refused by the circuit breaker",
            plural(self.retries, "retry", "retries"),
            self.budget_exhausted,
            plural(self.ejections, "ejection", "ejections"),
            self.breaker_overflows,
        )?;
        if self.injected_delays + self.injected_aborts > 0 {
            write!(
                f,
                ", injected faults: {} delays, {} aborts",
                self.injected_delays, self.injected_aborts
            )?;
        }
        Ok(())
    }
}

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
    /// What the latency line should say about how it was measured.
    latency_note: Option<&'static str>,
    mesh: Option<MeshCounters>,
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
            latency_note: None,
            mesh: None,
        }
    }

    /// Adds `note` to the latency line, e.g. `"access logs on"` when the apps logged every call,
    /// so latencies measured under different conditions are not compared as equals.
    pub fn note_latency(&mut self, note: &'static str) {
        self.latency_note = Some(note);
    }

    /// Records what the mesh's resilience policies did during the batch.
    pub fn record_mesh(&mut self, counters: MeshCounters) {
        self.mesh = Some(counters);
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

    /// What the mesh did during the batch, if recorded.
    pub fn mesh(&self) -> Option<MeshCounters> {
        self.mesh
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
            write!(
                f,
                "    latency   serviceA -> serviceB p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
                ms(0.5),
                ms(0.9),
                ms(0.99)
            )?;
            match self.latency_note {
                Some(note) => writeln!(f, " ({note})")?,
                None => writeln!(f)?,
            }
        }
        if let Some(mesh) = &self.mesh {
            writeln!(f, "    mesh      {mesh}")?;
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
        assert!(!text.contains("retries"), "{text}");
    }

    #[test]
    fn shows_what_the_mesh_did_in_the_batch() {
        let before = MeshCounters {
            attempts: 10,
            retries: 2,
            ..MeshCounters::default()
        };
        let after = MeshCounters {
            attempts: 130,
            retries: 19,
            ejections: 1,
            ..MeshCounters::default()
        };
        let mut s = Summary::new("gRPC");
        s.record_ok("v1", 100, None, None);
        s.record_mesh(after.since(before));
        s.note_latency("access logs on");
        let text = s.to_string();
        assert!(text.contains(" ms (access logs on)\n"), "{text}");
        assert!(
            text.contains(
                "mesh      17 retries (0 refused by the retry budget), 1 ejection, \
                 0 refused by the circuit breaker\n"
            ),
            "{text}"
        );
    }
}
