//! The results of a run: the numbers, their JSON form and the table.

use std::time::Duration;

use serde::Serialize;

/// The decode limit of mesh-core's `XdsClient`: a larger response fails.
pub(crate) const MESH_CORE_DECODE_LIMIT: usize = mesh_core::xds::client::MAX_RESPONSE_SIZE;

/// What a run measured.
#[derive(Debug, Serialize)]
pub(crate) struct Results {
    /// Simulated clients, each on its own ADS stream.
    pub(crate) clients: usize,
    /// HTTP/2 connections the streams share.
    pub(crate) connections: usize,
    /// Seconds from the first stream opened to every client having endpoints.
    pub(crate) sync_seconds: f64,
    /// From the route's YAML change to each client's ACK of the new RouteConfiguration.
    pub(crate) route_change: Latencies,
    /// Clients that ACKed the new RouteConfiguration.
    pub(crate) route_change_acked: usize,
    /// mesh-control's memory for its subscribers.
    pub(crate) memory: Memory,
    /// The big EDS push.
    pub(crate) eds_push: EdsPush,
}

/// Latency percentiles over clients, in milliseconds.
#[derive(Debug, Serialize)]
pub(crate) struct Latencies {
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

impl Latencies {
    /// The percentiles of `samples` (nearest rank); zeros when there are none.
    pub(crate) fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            let sample = samples.get(rank.saturating_sub(1)).copied();
            sample.unwrap_or_default().as_secs_f64() * 1e3
        };
        Self {
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// mesh-control's resident memory before the clients connected and once all were synced.
#[derive(Debug, Serialize)]
pub(crate) struct Memory {
    pub(crate) rss_before_bytes: u64,
    pub(crate) rss_after_bytes: u64,
    /// The difference over the clients, in KiB.
    pub(crate) per_subscriber_kib: f64,
}

/// One ClusterLoadAssignment push of many endpoints.
#[derive(Debug, Serialize)]
pub(crate) struct EdsPush {
    pub(crate) endpoints: usize,
    /// From the EndpointSlices' write to the client having decoded the assignment, which
    /// includes mesh-control's reload debounce (150 ms) and YAML parse.
    pub(crate) seconds: f64,
    /// The assignment's encoded size.
    pub(crate) encoded_bytes: usize,
    /// Whether mesh-core's `XdsClient` would accept it (its decode limit is `MAX_RESPONSE_SIZE`).
    pub(crate) fits_mesh_core_client: bool,
}

impl Results {
    /// The human-readable table.
    pub(crate) fn table(&self) -> String {
        let r = &self.route_change;
        let m = &self.memory;
        let e = &self.eds_push;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        format!(
            "xds_scale: {} clients on {} HTTP/2 connections\n\
             | measure | value | target |\n|---|---|---|\n\
             | all clients synced (LDS->RDS->CDS->EDS) | {:.2} s | |\n\
             | YAML route change -> ACK, p50 / p99 / max | {:.1} / {:.1} / {:.1} ms ({} of {} ACKed) | p99 < 1 s: {} |\n\
             | mesh-control RSS before -> after | {:.1} -> {:.1} MiB | |\n\
             | memory per subscriber | {:.1} KiB | <= 50 KiB: {} |\n\
             | EDS push of {} endpoints, write -> decoded | {:.2} s, {:.2} MiB encoded | fits mesh-core's {} MiB limit: {} |\n",
            self.clients,
            self.connections,
            self.sync_seconds,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            self.route_change_acked,
            self.clients,
            met(r.p99_ms < 1000.0 && self.route_change_acked == self.clients),
            mib(m.rss_before_bytes),
            mib(m.rss_after_bytes),
            m.per_subscriber_kib,
            met(m.per_subscriber_kib <= 50.0),
            e.endpoints,
            e.seconds,
            mib(e.encoded_bytes as u64),
            MESH_CORE_DECODE_LIMIT / (1024 * 1024),
            if e.fits_mesh_core_client { "yes" } else { "NO" },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples = (1..=200).map(Duration::from_millis).collect();
        let l = Latencies::of(samples);
        assert_eq!((l.p50_ms, l.p99_ms, l.max_ms), (100.0, 198.0, 200.0));
        let none = Latencies::of(Vec::new());
        assert_eq!(none.max_ms, 0.0);
    }
}
