//! Helpers shared by the tests of the workspace's crates (feature `test-support`); not API.

use std::io::Write;
use std::process::{Command, Stdio};

/// Fails the calling test unless `promtool check metrics` finds no problem at all (no error,
/// no lint warning) in `text`, the
/// metrics of `what` in the Prometheus text format. promtool comes from the Debian package
/// `prometheus`, which `scripts/test` installs.
pub fn promtool_check(what: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run promtool ({e}): install the Debian package `prometheus` \
                 (scripts/test does)"
            )
        });
    let mut stdin = child.stdin.take().expect("promtool's stdin is piped");
    stdin
        .write_all(text.as_bytes())
        .expect("promtool reads its input");
    drop(stdin);
    let output = child.wait_with_output().expect("promtool ends");
    // promtool exits non-zero on a lint problem too, and prints nothing when it finds none.
    assert!(
        output.status.success() && output.stdout.is_empty() && output.stderr.is_empty(),
        "promtool check metrics refused the metrics of {what}:\n{}{}\n--- the metrics:\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
