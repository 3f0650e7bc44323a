//! The load comparison in smoke mode, as CI runs it: every scenario (S0, S1, the S2 variants,
//! S3) runs for a few seconds with the debug binaries and must complete calls with no errors
//! and fill every column of the table.

use std::process::Command;
use std::time::{Duration, Instant};

use benches::load::report::ScenarioReport;
use benches::load::scenario;

#[test]
fn every_scenario_completes_calls_without_errors() {
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_bench-load"))
        .args(["run", "--smoke", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "bench-load run --smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // A bound against a hang, not a performance check: debug builds on a loaded 2-core CI
    // machine start mesh-control and identities several times.
    assert!(
        start.elapsed() < Duration::from_secs(300),
        "took {:?}",
        start.elapsed()
    );

    for s in scenario::all() {
        let path = out.path().join(format!("{}.json", s.name));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        let report: ScenarioReport = serde_json::from_str(&text).unwrap();
        let load = &report.load;
        assert_eq!(report.errors(), 0, "{}: {:?}", s.name, load);
        assert!(
            load.one_in_flight.ok > 0 && load.max.ok > 0,
            "{}: {load:?}",
            s.name
        );
        assert_eq!(load.rates.len(), 2, "{}", s.name);
        for phase in [&load.one_in_flight, &load.max]
            .into_iter()
            .chain(load.rates.iter().map(|r| &r.phase))
        {
            assert!(
                phase.ok > 0 && phase.p50_us > 0.0 && phase.p99_us >= phase.p50_us,
                "{}: {phase:?}",
                s.name
            );
        }
        assert!(load.max.rps > 0.0, "{}", s.name);
        assert!(
            report.client_cpu().is_some() && report.server_cpu().is_some(),
            "{}: {load:?}",
            s.name
        );
        assert!(report.total_cpu() > 0.0, "{}: {load:?}", s.name);
        for rate in &load.rates {
            let cpu = &rate.cpu_us_per_request;
            assert!(
                ["loadgen", "server"]
                    .iter()
                    .all(|p| cpu.get(*p).is_some_and(|us| *us > 0.0)),
                "{} @{}/s: {cpu:?}",
                s.name,
                rate.target_rps
            );
            assert!(
                report
                    .rate_total_cpu(rate.target_rps)
                    .is_some_and(|us| us > 0.0),
                "{} @{}/s",
                s.name,
                rate.target_rps
            );
        }
        assert!(
            load.peak_rss_kib.get("loadgen").is_some_and(|k| *k > 0),
            "{}",
            s.name
        );
        assert!(
            load.peak_rss_kib.get("server").is_some_and(|k| *k > 0),
            "{}",
            s.name
        );
        let row = format!("| {} |", s.name);
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row {}:\n{stdout}", s.name));
        assert!(!line.contains("| - |"), "an empty column in {line}");
    }
    let processes = |name: &str| {
        let text = std::fs::read_to_string(out.path().join(format!("{name}.json"))).unwrap();
        let report: ScenarioReport = serde_json::from_str(&text).unwrap();
        report
            .load
            .cpu_us_per_request
            .into_keys()
            .collect::<Vec<_>>()
    };
    assert!(processes("S2").contains(&"mesh-control".to_string()));
    assert!(processes("S3").contains(&"client-sidecar".to_string()));
    assert!(processes("S3").contains(&"server-sidecar".to_string()));
    assert!(stdout.contains("Targets (S2 against S1)"), "{stdout}");
}
