//! Runs `xds_scale --smoke --json` (mesh-control in a child process, 100 simulated xDS
//! clients, a 10k-endpoint EDS push) and checks that every client ACKed the route change and
//! that every number is there and sane.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The most the smoke run may take on a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(300);

fn number(results: &Value, path: &str) -> f64 {
    let value = path.split('.').fold(results, |v, key| &v[key]);
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number in {results:#}"))
}

#[test]
fn smoke_run_acks_every_change_and_reports_every_number() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xds_scale"))
        .args(["--smoke", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("xds_scale starts");
    let started = Instant::now();
    while child
        .try_wait()
        .expect("xds_scale can be waited for")
        .is_none()
    {
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("xds_scale --smoke took over {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("xds_scale output");
    assert!(
        output.status.success(),
        "xds_scale failed: {}",
        output.status
    );
    let results: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");

    assert_eq!(number(&results, "clients"), 100.0);
    assert_eq!(number(&results, "route_change_acked"), 100.0);
    let (p50, p99, max) = (
        number(&results, "route_change.p50_ms"),
        number(&results, "route_change.p99_ms"),
        number(&results, "route_change.max_ms"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{results:#}");
    assert!(max < 60_000.0, "a route change took {max} ms: {results:#}");
    assert!(number(&results, "sync_seconds") > 0.0);

    let before = number(&results, "memory.rss_before_bytes");
    let after = number(&results, "memory.rss_after_bytes");
    assert!(before > 1e6 && after >= before, "{results:#}");
    assert!(number(&results, "memory.per_subscriber_kib") >= 0.0);

    assert_eq!(number(&results, "eds_push.endpoints"), 10_000.0);
    assert!(number(&results, "eds_push.seconds") > 0.0);
    // About 20 to 40 bytes per endpoint on the wire.
    let bytes = number(&results, "eds_push.encoded_bytes");
    assert!((100_000.0..1_000_000.0).contains(&bytes), "{results:#}");
    assert_eq!(results["eds_push"]["fits_mesh_core_client"], true);
}
