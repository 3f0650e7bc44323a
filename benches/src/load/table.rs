//! The comparison as a markdown table, with the deltas and ratios against S1 and which of the
//! mesh's targets (S2 against S1) are met.
//!
//! CPU per call is shown twice: over the throughput phase, where both ends are saturated and
//! it is close to 1 / throughput, and at the first fixed rate, where it is a cost; the CPU
//! target is checked at the first fixed rate.

use std::fmt::Write;

use super::report::ScenarioReport;

/// The targets: S2 p50 at one in flight at most this much above S1's, in microseconds.
pub const P50_BUDGET_US: f64 = 10.0;
/// S2 p99 at one in flight at most this much above S1's, in microseconds.
pub const P99_BUDGET_US: f64 = 20.0;
/// S2 max throughput at least this share of S1's.
pub const MIN_RPS_RATIO: f64 = 0.90;
/// S2 CPU per call (all its processes) at the first fixed rate at most this multiple of S1's.
pub const MAX_CPU_RATIO: f64 = 1.15;

/// The table of `reports` (in order) and the targets.
pub fn render(reports: &[ScenarioReport]) -> String {
    let s1 = reports.iter().find(|r| r.scenario == "S1");
    let rates: Vec<u32> = reports
        .first()
        .map(|r| r.load.rates.iter().map(|p| p.target_rps).collect())
        .unwrap_or_default();
    let mut header = vec!["scenario".to_string(), "p50/p90/p99 @1 (us)".into()];
    for rate in &rates {
        header.push(format!("p50/p99 @{rate}/s (us)"));
    }
    header.extend(
        [
            "max rps",
            "CPU us/req client",
            "CPU us/req server",
            "CPU us/req total",
        ]
        .map(String::from),
    );
    if let Some(first) = rates.first() {
        header.push(format!("CPU us/req total @{first}/s"));
    }
    header.extend(
        [
            "peak RSS MiB",
            "errors",
            "p50 - S1 (us)",
            "p99 - S1 (us)",
            "rps / S1",
            "CPU / S1",
        ]
        .map(String::from),
    );
    let mut out = row(&header);
    out += &row(&vec!["---".to_string(); header.len()]);
    for r in reports {
        let one = &r.load.one_in_flight;
        let mut cells = vec![
            r.scenario.clone(),
            format!("{:.0} / {:.0} / {:.0}", one.p50_us, one.p90_us, one.p99_us),
        ];
        for rate in &rates {
            cells.push(match r.load.rates.iter().find(|p| p.target_rps == *rate) {
                Some(p) => format!("{:.0} / {:.0}", p.phase.p50_us, p.phase.p99_us),
                None => "-".into(),
            });
        }
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        cells.extend([
            format!("{:.0}", r.load.max.rps),
            opt(r.client_cpu()),
            opt(r.server_cpu()),
            format!("{:.1}", r.total_cpu()),
        ]);
        if let Some(first) = rates.first() {
            cells.push(opt(r.rate_total_cpu(*first)));
        }
        cells.extend([
            format!("{:.1}", r.total_rss_kib() as f64 / 1024.0),
            r.errors().to_string(),
        ]);
        match s1 {
            Some(s1) => cells.extend([
                format!("{:+.0}", one.p50_us - s1.load.one_in_flight.p50_us),
                format!("{:+.0}", one.p99_us - s1.load.one_in_flight.p99_us),
                format!("{:.2}", r.load.max.rps / s1.load.max.rps),
                format!("{:.2}", r.total_cpu() / s1.total_cpu()),
            ]),
            None => cells.extend(["-"; 4].map(String::from)),
        }
        out += &row(&cells);
    }
    out += "\n";
    out += &targets(s1, reports.iter().find(|r| r.scenario == "S2"));
    out
}

/// Which targets S2 meets against S1.
pub fn targets(s1: Option<&ScenarioReport>, s2: Option<&ScenarioReport>) -> String {
    let (Some(s1), Some(s2)) = (s1, s2) else {
        return "Targets: not checked (S1 and S2 are both needed).\n".to_string();
    };
    let errors = s1.errors() + s2.errors();
    if errors > 0 {
        return format!(
            "Targets: not met ({errors} failed calls in S1 and S2; a run with errors compares \
             nothing).\n"
        );
    }
    let (a, b) = (&s1.load, &s2.load);
    let p50 = b.one_in_flight.p50_us - a.one_in_flight.p50_us;
    let p99 = b.one_in_flight.p99_us - a.one_in_flight.p99_us;
    let rps = b.max.rps / a.max.rps;
    let first_rate = a.rates.first().map(|p| p.target_rps);
    let cpu = first_rate
        .and_then(|rate| Some((rate, s2.rate_total_cpu(rate)? / s1.rate_total_cpu(rate)?)));
    let mut out = String::from("Targets (S2 against S1):\n");
    let mut check = |met: bool, what: String| {
        let _ = writeln!(out, "- [{}] {what}", if met { "x" } else { " " });
    };
    check(
        p50 <= P50_BUDGET_US,
        format!("p50 @1: {p50:+.1} us (at most +{P50_BUDGET_US} us)"),
    );
    check(
        p99 <= P99_BUDGET_US,
        format!("p99 @1: {p99:+.1} us (at most +{P99_BUDGET_US} us)"),
    );
    check(
        rps >= MIN_RPS_RATIO,
        format!("max rps: {rps:.2} x S1 (at least {MIN_RPS_RATIO})"),
    );
    match cpu {
        Some((rate, cpu)) => check(
            cpu <= MAX_CPU_RATIO,
            format!("CPU per call at {rate}/s: {cpu:.2} x S1 (at most {MAX_CPU_RATIO})"),
        ),
        None => check(
            false,
            "CPU per call: not measured at a fixed rate in both S1 and S2".to_string(),
        ),
    }
    out
}

fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::load::report::{LoadReport, PhaseReport, RatePhase};

    /// `cpu` is the total CPU per call over the throughput phase, `rate_cpu` at 1000/s.
    fn report(name: &str, p50: f64, rps: f64, cpu: f64, rate_cpu: f64) -> ScenarioReport {
        let phase = PhaseReport {
            ok: 100,
            errors: 0,
            first_error: None,
            seconds: 1.0,
            rps,
            p50_us: p50,
            p90_us: p50 + 5.0,
            p99_us: p50 + 10.0,
            max_us: p50 + 100.0,
        };
        ScenarioReport {
            scenario: name.into(),
            description: String::new(),
            load: LoadReport {
                one_in_flight: phase.clone(),
                rates: vec![RatePhase {
                    target_rps: 1000,
                    phase: phase.clone(),
                    cpu_us_per_request: BTreeMap::from([
                        ("loadgen".into(), rate_cpu / 4.0),
                        ("server".into(), rate_cpu * 3.0 / 4.0),
                        ("otlp-sink".into(), 500.0),
                    ]),
                }],
                max: phase,
                max_in_flight: 64,
                cpu_us_per_request: BTreeMap::from([
                    ("loadgen".into(), cpu / 2.0),
                    ("server".into(), cpu / 2.0),
                    ("otlp-sink".into(), 1000.0),
                ]),
                peak_rss_kib: BTreeMap::from([("loadgen".into(), 2048), ("server".into(), 1024)]),
            },
        }
    }

    #[test]
    fn rows_deltas_and_targets() {
        let reports = [
            report("S1", 100.0, 10_000.0, 50.0, 80.0),
            report("S2", 105.0, 8_000.0, 55.0, 100.0),
        ];
        let table = render(&reports);
        assert!(
            table.contains("| CPU us/req total | CPU us/req total @1000/s | peak RSS MiB |"),
            "{table}"
        );
        assert!(table.contains("| S2 | 105 / 110 / 115 | 105 / 115 | 8000 | 27.5 | 27.5 | 55.0 | 100.0 | 3.0 | 0 | +5 | +5 | 0.80 | 1.10 |"), "{table}");
        assert!(table.contains("- [x] p50 @1: +5.0 us"), "{table}");
        assert!(table.contains("- [ ] max rps: 0.80 x S1"), "{table}");
        // The CPU target is checked at the fixed rate (1.25 x), not over the throughput phase
        // (1.10 x).
        assert!(
            table.contains("- [ ] CPU per call at 1000/s: 1.25 x S1"),
            "{table}"
        );
        assert!(render(&reports[..1]).contains("not checked"));
    }
}
