//! What a scenario measured, as written to `<scenario>.json` and read back for the table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The process that stands in for a trace collector: measured, but not part of any
/// scenario's cost.
pub const OTLP_SINK: &str = "otlp-sink";

/// One phase of load.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PhaseReport {
    /// Calls that returned OK.
    pub ok: u64,
    /// Calls that failed (a non-OK gRPC status or a transport error).
    pub errors: u64,
    /// The first failure, to say why.
    pub first_error: Option<String>,
    /// How long the phase lasted.
    pub seconds: f64,
    /// Calls that succeeded per second (failed calls do not count).
    pub rps: f64,
    /// Median latency of the calls that succeeded, in microseconds.
    pub p50_us: f64,
    /// 90th percentile, in microseconds.
    pub p90_us: f64,
    /// 99th percentile, in microseconds.
    pub p99_us: f64,
    /// The slowest call, in microseconds.
    pub max_us: f64,
}

/// A phase at a fixed rate (open loop).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RatePhase {
    /// The rate asked for, in calls per second.
    pub target_rps: u32,
    /// What it measured.
    pub phase: PhaseReport,
    /// Per process (as [`LoadReport::cpu_us_per_request`]): CPU time over this phase divided
    /// by its successful calls, in microseconds. Empty in reports written before it existed.
    #[serde(default)]
    pub cpu_us_per_request: BTreeMap<String, f64>,
}

/// What the load generator measured in one scenario.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LoadReport {
    /// One call in flight at a time (closed loop).
    pub one_in_flight: PhaseReport,
    /// Fixed rates (open loop), latency counted from each call's intended send time.
    pub rates: Vec<RatePhase>,
    /// The most calls in flight (closed loop): the highest throughput.
    pub max: PhaseReport,
    /// How many calls were in flight in [`LoadReport::max`].
    pub max_in_flight: usize,
    /// Per process (`loadgen`, `server`, sidecars, `mesh-control`...): CPU time (user +
    /// system) over the [`LoadReport::max`] phase divided by its successful calls, in
    /// microseconds. Both ends are saturated there, so this is close to 1 / throughput; the
    /// cost at a fixed rate is [`RatePhase::cpu_us_per_request`].
    pub cpu_us_per_request: BTreeMap<String, f64>,
    /// Per process: peak resident set size (VmHWM) in KiB, read at the end of the load.
    pub peak_rss_kib: BTreeMap<String, u64>,
}

/// One scenario's results.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScenarioReport {
    /// Its short name (`S0`, `S2-no-mtls`...).
    pub scenario: String,
    /// What it runs.
    pub description: String,
    /// The load generator's measurements.
    pub load: LoadReport,
}

impl ScenarioReport {
    /// Failed calls over all phases.
    pub fn errors(&self) -> u64 {
        let rates: u64 = self.load.rates.iter().map(|r| r.phase.errors).sum();
        self.load.one_in_flight.errors + self.load.max.errors + rates
    }

    /// CPU microseconds per call of the load generator.
    pub fn client_cpu(&self) -> Option<f64> {
        self.load.cpu_us_per_request.get("loadgen").copied()
    }

    /// CPU microseconds per call of the server.
    pub fn server_cpu(&self) -> Option<f64> {
        self.load.cpu_us_per_request.get("server").copied()
    }

    /// CPU microseconds per call of every process of the scenario (sidecars and mesh-control
    /// included, the trace collector not).
    pub fn total_cpu(&self) -> f64 {
        scenario_cpu(&self.load.cpu_us_per_request)
    }

    /// CPU microseconds per call of every process of the scenario (as
    /// [`ScenarioReport::total_cpu`]) at the fixed rate `rps`; `None` if no phase ran at that
    /// rate or it has no CPU figures.
    pub fn rate_total_cpu(&self, rps: u32) -> Option<f64> {
        let phase = self.load.rates.iter().find(|p| p.target_rps == rps)?;
        (!phase.cpu_us_per_request.is_empty()).then(|| scenario_cpu(&phase.cpu_us_per_request))
    }

    /// Peak RSS of every process of the scenario (the trace collector not), in KiB.
    pub fn total_rss_kib(&self) -> u64 {
        self.load
            .peak_rss_kib
            .iter()
            .filter(|(name, _)| name.as_str() != OTLP_SINK)
            .map(|(_, kib)| kib)
            .sum()
    }
}

/// The sum of `per_process` without the trace collector.
fn scenario_cpu(per_process: &BTreeMap<String, f64>) -> f64 {
    per_process
        .iter()
        .filter(|(name, _)| name.as_str() != OTLP_SINK)
        .map(|(_, us)| us)
        .sum()
}
