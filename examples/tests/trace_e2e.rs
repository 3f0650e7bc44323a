//! Tracing and access logs end to end, with real processes and real mTLS: a call through
//! serviceA is one trace across both processes, exported over OTLP/gRPC to a collector of the
//! test, the server's span a child of the client's and within it; and one access-log line on
//! each side, with the fields the mesh's JSON logs promise.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use examples::access_log::AccessLogEntry;
use examples::process::Proc;
use support::otlp::{Collector, ReceivedSpan};
use support::telemetry::wait_ok;
use support::{GET_PATH, Mesh, SERVICEA_ID, SERVICEB_ID, assert_eventually, split_config};

/// JSON logs with access logs on.
const ACCESS_LOGS: [(&str, &str); 2] = [
    ("RUST_LOG", "info,mesh::access=info"),
    ("MESH_LOG_FORMAT", "json"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_service_a_is_one_trace_and_one_access_log_line_on_each_side() {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // Export batches every 200 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    env.extend(ACCESS_LOGS);
    let mut mesh = Mesh::start(&[("mesh.yaml", &split_config(1, 0))]).await;
    let service_b = mesh
        .start_service_b_env(
            "serviceb-v1",
            "serviceb-v1.demo:50051",
            "dev-serviceb",
            &[],
            &env,
        )
        .await;
    let service_a = mesh.start_service_a(&[], &env).await;
    wait_ok(&format!("http://{service_a}/call")).await;

    let took = assert_eventually(
        "serviceB's server span is a child of serviceA's client span, within it",
        Duration::from_secs(15),
        || async {
            let spans = collector.spans();
            match joined(&spans) {
                Some((client, server)) if within(server, client) => Ok(()),
                Some(pair) => Err(format!(
                    "the server span is not within the client's: {pair:#?}"
                )),
                None => Err(format!("spans so far: {spans:#?}")),
            }
        },
    )
    .await;
    eprintln!("the trace arrived {took:?} after the call");

    // The last call (the one that succeeded) as each side logged it.
    let client = last_access_log(mesh.proc("servicea"), "client").await;
    let server = last_access_log(mesh.proc("serviceb-v1"), "server").await;
    for (side, entry) in [("client", &client), ("server", &server)] {
        assert_eq!(entry.text("method"), Some("POST"), "{side}: {entry:?}");
        assert_eq!(entry.text("path"), Some(GET_PATH), "{side}: {entry:?}");
        assert_eq!(entry.text("status"), Some("0"), "{side}: {entry:?}");
        assert_eq!(entry.flag("mtls"), Some(true), "{side}: {entry:?}");
        let latency = entry.number("latency_ms");
        assert!(latency.is_some_and(|ms| ms > 0.0), "{side}: {entry:?}");
    }
    assert_eq!(client.text("peer"), Some(SERVICEB_ID), "{client:?}");
    assert_eq!(
        client.text("upstream"),
        Some(service_b.to_string().as_str())
    );
    assert_eq!(client.count("attempts"), Some(1), "{client:?}");
    assert!(
        client.text("route").is_some_and(|r| !r.is_empty()),
        "{client:?}"
    );
    assert!(
        client.text("cluster").is_some_and(|c| !c.is_empty()),
        "{client:?}"
    );
    assert_eq!(server.text("peer"), Some(SERVICEA_ID), "{server:?}");
    let remote = server
        .text("remote")
        .and_then(|r| r.parse::<SocketAddr>().ok());
    assert!(remote.is_some_and(|r| r.ip().is_loopback()), "{server:?}");
}

/// The last access-log entry of `side` for [`GET_PATH`] in `proc`'s log, waiting up to 5 s.
async fn last_access_log(proc: &Proc, side: &str) -> AccessLogEntry {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = proc.log().await;
        let found = AccessLogEntry::all_in(&log)
            .into_iter()
            .rfind(|e| e.is_side(side) && e.text("path") == Some(GET_PATH));
        if let Some(entry) = found {
            return entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} logged no {side} access-log line; its log:\n{log}",
            proc.name()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `mesh.client` span of serviceA and a `mesh.server` span of serviceB of the same trace, the
/// server's parent being the client span.
fn joined(spans: &[ReceivedSpan]) -> Option<(&ReceivedSpan, &ReceivedSpan)> {
    let clients = spans
        .iter()
        .filter(|s| s.service == "servicea" && s.name == "mesh.client");
    clients.into_iter().find_map(|client| {
        let server = spans.iter().find(|s| {
            s.service == "serviceb"
                && s.name == "mesh.server"
                && s.trace_id == client.trace_id
                && s.parent_span_id == client.span_id
        })?;
        Some((client, server))
    })
}

/// Whether `inner` started and ended within `outer` (both stamped by the same machine's clock).
fn within(inner: &ReceivedSpan, outer: &ReceivedSpan) -> bool {
    outer.start_unix_nano <= inner.start_unix_nano && inner.end_unix_nano <= outer.end_unix_nano
}

#[test]
fn only_a_server_span_whose_parent_is_the_client_span_joins_it() {
    let span = |service: &str, name: &str, id: u8, parent: u8| ReceivedSpan {
        service: service.into(),
        name: name.into(),
        trace_id: vec![7; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
        start_unix_nano: 100,
        end_unix_nano: 200,
    };
    let client = span("servicea", "mesh.client", 1, 0);
    let stranger = span("serviceb", "mesh.server", 2, 9);
    assert!(joined(&[client.clone(), stranger.clone()]).is_none());
    let child = span("serviceb", "mesh.server", 3, 1);
    assert_eq!(
        joined(&[stranger, client.clone(), child.clone()]),
        Some((&client, &child))
    );
    assert!(within(&child, &client));
    let late = ReceivedSpan {
        end_unix_nano: 201,
        ..child.clone()
    };
    assert!(!within(&late, &client));
    let early = ReceivedSpan {
        start_unix_nano: 99,
        ..child
    };
    assert!(!within(&early, &client));
}
