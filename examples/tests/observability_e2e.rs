//! Observability end to end, with real processes and real mTLS: the metrics that serviceA,
//! serviceB and mesh-control serve on their admin servers move exactly as the calls made, and
//! pass `promtool check metrics`; a call through serviceA is one trace across both processes,
//! exported over OTLP/gRPC.

mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use examples::service_a::Counters;
use support::otlp::{Collector, ReceivedSpan};
use support::telemetry::{
    admin_addr, control_admin_addr, http_get, metric_sum, metrics, promtool_check,
};
use support::{
    Mesh, PLAINTEXT, STRICT, assert_eventually, authorize_only, demo_cmd, get, split_config,
    xds_client_cmd,
};

const REPLICAS: [&str; 2] = ["serviceb-v1-a", "serviceb-v1-flaky"];
const ADMIN_ON: [&str; 2] = ["--admin-addr", "127.0.0.1:0"];
const SERVICEA: &str = "xds:///serviceb.demo:50051";

/// serviceb split to v1 only, retried up to three times on UNAVAILABLE, and callable only by
/// demo/servicea.
fn config() -> String {
    format!(
        r#"{}---
{}---
apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {{ name: retries, namespace: demo }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }}]
  retry:
    attempts: 3
    grpcCodes: [UNAVAILABLE]
    backoff: {{ base: 1ms, max: 5ms }}
"#,
        split_config(1, 0),
        authorize_only("servicea", "serviceb-v1")
    )
}

/// What the counters of the test's processes say at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    /// serviceA's `mesh_client_requests_total`, all series.
    client_requests: f64,
    /// serviceA's `mesh_client_retries_total`.
    client_retries: f64,
    /// serviceA's retries by its `/counters`.
    counted_retries: u64,
    /// `mesh_server_requests_total` of both replicas.
    server_requests: f64,
    /// `mesh_server_denied_total` of both replicas.
    server_denied: f64,
}

async fn read(service_a: SocketAddr, admin_a: SocketAddr, admin_b: &[SocketAddr]) -> Reading {
    let a = metrics(admin_a).await;
    let (status, counters) = http_get(&format!("http://{service_a}/counters")).await;
    assert_eq!(status, 200, "serviceA's /counters: {counters}");
    let counters: Counters = serde_json::from_str(&counters).unwrap();
    let mut reading = Reading {
        client_requests: metric_sum(&a, "mesh_client_requests_total"),
        client_retries: metric_sum(&a, "mesh_client_retries_total"),
        counted_retries: counters.grpc.retries,
        server_requests: 0.0,
        server_denied: 0.0,
    };
    for admin in admin_b {
        let b = metrics(*admin).await;
        reading.server_requests += metric_sum(&b, "mesh_server_requests_total");
        reading.server_denied += metric_sum(&b, "mesh_server_denied_total");
    }
    reading
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_exactly_as_the_calls_made_and_pass_promtool() {
    const N: u32 = 100;
    const M: u32 = 10;
    let mut mesh = Mesh::start_with(&[("mesh.yaml", &config())], &ADMIN_ON).await;
    let mut replicas = Vec::new();
    for replica in REPLICAS {
        let mut flags = ADMIN_ON.to_vec();
        // PeakEWMA sends most calls to the faster replica: the flaky one, so calls get retried.
        flags.extend(match replica.ends_with("flaky") {
            true => ["--fail-rate", "0.3"],
            false => ["--delay", "5ms"],
        });
        let addr = mesh
            .start_service_b_with(replica, "serviceb-v1.demo:50051", "dev-serviceb", &flags)
            .await;
        replicas.push(addr);
    }
    let service_a = mesh.start_service_a(&ADMIN_ON, &[]).await;
    let admin_a = admin_addr(mesh.proc("servicea")).await;
    let mut admin_b = Vec::new();
    for replica in REPLICAS {
        admin_b.push(admin_addr(mesh.proc(replica)).await);
    }
    let impostor = mesh.client_with(SERVICEA, Some(mesh.identity("dev-impostor").await));

    // Each replica is ready once its inbound policy is in force; serviceA once it routes.
    for addr in &replicas {
        assert_eventually("serviceB is ready", Duration::from_secs(20), || async {
            match http_get(&format!("http://{addr}/ready")).await {
                (200, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
    }
    let call = format!("http://{service_a}/call");
    assert_eventually(
        "serviceA calls serviceB",
        Duration::from_secs(20),
        || async {
            match http_get(&call).await {
                (200, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    let before = read(service_a, admin_a, &admin_b).await;
    for _ in 0..N {
        http_get(&call).await;
    }
    for _ in 0..M {
        let denied = get(&impostor).await.unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    }
    // A server records a call when its response ends, which may trail the client by a moment.
    assert_eventually(
        "the servers recorded every call",
        Duration::from_secs(10),
        || async {
            let now = read(service_a, admin_a, &admin_b).await;
            let retries = now.counted_retries - before.counted_retries;
            let want = f64::from(N + M) + retries as f64;
            if now.server_requests - before.server_requests == want {
                Ok(())
            } else {
                Err(format!(
                    "want {want} more server requests: {before:?} -> {now:?}"
                ))
            }
        },
    )
    .await;
    let after = read(service_a, admin_a, &admin_b).await;
    let retries = after.counted_retries - before.counted_retries;
    assert_eq!(
        after.server_requests - before.server_requests,
        f64::from(N + M) + retries as f64,
        "{before:?} -> {after:?}"
    );
    assert_eq!(
        after.client_requests - before.client_requests,
        f64::from(N),
        "{before:?} -> {after:?}"
    );
    eprintln!("{N} calls through serviceA took {retries} retries");
    assert!(retries > 0, "the flaky replica caused no retries");
    assert_eq!(
        after.client_retries - before.client_retries,
        retries as f64,
        "serviceA's retries by /metrics and by /counters: {before:?} -> {after:?}"
    );
    assert_eq!(
        after.server_denied - before.server_denied,
        f64::from(M),
        "{before:?} -> {after:?}"
    );

    let control = mesh.control.as_ref().unwrap();
    for (what, admin) in [
        ("serviceA", admin_a),
        ("serviceB", admin_b[0]),
        ("mesh-control", control_admin_addr(control).await),
    ] {
        promtool_check(what, &metrics(admin).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_through_service_a_is_one_trace_across_both_processes() {
    let collector = Collector::start().await;
    let endpoint = collector.endpoint();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        // Export batches every 200 ms rather than every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    let mut mesh = Mesh::start(&[("mesh.yaml", &split_config(1, 0))]).await;
    mesh.start_service_b_env(
        "serviceb-v1",
        "serviceb-v1.demo:50051",
        "dev-serviceb",
        &[],
        &env,
    )
    .await;
    let service_a = mesh.start_service_a(&[], &env).await;
    let call = format!("http://{service_a}/call");
    assert_eventually(
        "serviceA calls serviceB",
        Duration::from_secs(20),
        || async {
            match http_get(&call).await {
                (200, _) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    let took = assert_eventually(
        "serviceB's server span is a child of serviceA's client span",
        Duration::from_secs(15),
        || async {
            let spans = collector.spans();
            if joined(&spans).is_some() {
                Ok(())
            } else {
                Err(format!("spans so far: {spans:#?}"))
            }
        },
    )
    .await;
    eprintln!("the trace arrived {took:?} after the call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_a_grpcio_client_nacking_an_mtls_cluster_then_synced_when_plaintext() {
    let config = split_config(1, 0);
    let mesh = Mesh::start_with(
        &[("mesh.yaml", &format!("{config}---\n{STRICT}"))],
        &ADMIN_ON,
    )
    .await;
    let admin = control_admin_addr(mesh.control.as_ref().unwrap()).await;
    // No certificate providers in its bootstrap: grpcio refuses a Cluster that asks for mTLS.
    // The call waits for a route (up to 20 s), keeping the client's ADS stream open.
    let bootstrap = mesh.plaintext_bootstrap("python-client").await;
    let log = std::fs::File::create(mesh.logs.path().join("grpcio-client.log")).unwrap();
    let _grpcio = xds_client_cmd(&bootstrap, &["--calls", "1"])
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let status = || async {
        let out = demo_cmd(&["control", "status", "--admin", &format!("http://{admin}")])
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "status failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };
    assert_eventually("status shows the NACK", Duration::from_secs(20), || async {
        let out = status().await;
        match node_states(&out, "python-client") {
            Some(states) if states[2] == "NACKED" && out.contains("certificate provider") => Ok(()),
            _ => Err(out),
        }
    })
    .await;

    mesh.write("mesh.yaml", &format!("{config}---\n{PLAINTEXT}"));
    assert_eventually(
        "status shows the client in sync",
        Duration::from_secs(20),
        || async {
            let out = status().await;
            match node_states(&out, "python-client") {
                Some(states) if states.iter().all(|s| s == "SYNCED") && !out.contains("NACKED") => {
                    Ok(())
                }
                _ => Err(out),
            }
        },
    )
    .await;
}

/// The LDS, RDS, CDS and EDS states of `node` in the table `mesh-control status` prints.
fn node_states(status: &str, node: &str) -> Option<Vec<String>> {
    let columns: Vec<&str> = status.lines().next()?.split_whitespace().collect();
    let row: Vec<&str> = status
        .lines()
        .find(|line| line.split_whitespace().next() == Some(node))?
        .split_whitespace()
        .collect();
    let states = ["LDS", "RDS", "CDS", "EDS"].map(|type_| {
        let i = columns.iter().position(|c| *c == type_)?;
        row.get(i).map(|s| s.to_string())
    });
    states.into_iter().collect()
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

#[test]
fn reads_the_states_of_a_node_in_the_status_table() {
    let table = "NODE           IDENTITY  LDS     RDS     CDS     EDS\n\
                 python-client  -         SYNCED  SYNCED  NACKED  -\n\n\
                 python-client CDS NACKED version 1 (nonce 3): bad\n";
    assert_eq!(
        node_states(table, "python-client"),
        Some(
            ["SYNCED", "SYNCED", "NACKED", "-"]
                .map(String::from)
                .to_vec()
        )
    );
    assert_eq!(node_states(table, "servicea"), None);
}

#[test]
fn metric_sum_adds_every_series_of_one_metric_only() {
    let text = "# TYPE mesh_x_total counter\nmesh_x_total{a=\"1\"} 2\nmesh_x_total{a=\"2\"} 3\n\
                mesh_x_total_more 7\nmesh_x 5\nmesh_x_total 1\n";
    assert_eq!(metric_sum(text, "mesh_x_total"), 6.0);
    assert_eq!(metric_sum(text, "mesh_y_total"), 0.0);
}

#[test]
fn only_a_server_span_whose_parent_is_the_client_span_joins_it() {
    let span = |service: &str, name: &str, id: u8, parent: u8| ReceivedSpan {
        service: service.into(),
        name: name.into(),
        trace_id: vec![7; 16],
        span_id: vec![id; 8],
        parent_span_id: if parent == 0 { vec![] } else { vec![parent; 8] },
    };
    let client = span("servicea", "mesh.client", 1, 0);
    let stranger = span("serviceb", "mesh.server", 2, 9);
    assert!(joined(&[client.clone(), stranger.clone()]).is_none());
    let child = span("serviceb", "mesh.server", 3, 1);
    assert_eq!(
        joined(&[stranger, client.clone(), child.clone()]),
        Some((&client, &child))
    );
}
