//! Observability end to end, with real processes and real mTLS: the metrics that serviceA and
//! the serviceB replicas serve on their admin servers move exactly as the calls made, series by
//! series, and pass `promtool check metrics` (mesh-control's too). (`trace_e2e` covers traces
//! and access logs, `status_e2e` `mesh-control status` with a grpcio peer.)

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use examples::metrics_text::{samples, sum};
use examples::service_a::Counters;
use mesh_core::test_support::promtool_check;
use support::telemetry::{admin_addr, control_admin_addr, http_get, metrics, wait_ok};
use support::{
    GET_PATH, IMPOSTOR_ID, Mesh, SERVICEA_ID, SERVICEB_ID, authorize_only, get, split_config,
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

/// The metrics of serviceA and of the replicas, and serviceA's retries by its `/counters`, at
/// one moment.
struct Snapshot {
    service_a: String,
    replicas: Vec<String>,
    counted_retries: u64,
}

impl Snapshot {
    async fn take(service_a: SocketAddr, admin_a: SocketAddr, admin_b: &[SocketAddr]) -> Snapshot {
        let (status, counters) = http_get(&format!("http://{service_a}/counters")).await;
        assert_eq!(status, 200, "serviceA's /counters: {counters}");
        let counters: Counters = serde_json::from_str(&counters).unwrap();
        let mut replicas = Vec::new();
        for admin in admin_b {
            replicas.push(metrics(*admin).await);
        }
        Snapshot {
            service_a: metrics(admin_a).await,
            replicas,
            counted_retries: counters.grpc.retries,
        }
    }

    /// serviceA's samples of `name` with `labels`, summed.
    fn client(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sum(&self.service_a, name, labels)
    }

    /// Both replicas' sample lines of `name`, for a failure message.
    fn series(&self, name: &str) -> Vec<String> {
        let texts = self.replicas.iter();
        texts
            .flat_map(|text| samples(text, name).map(|s| s.line.to_string()))
            .collect()
    }

    /// Both replicas' samples of `name` with `labels`, summed.
    fn servers(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.replicas
            .iter()
            .map(|text| sum(text, name, labels))
            .sum()
    }
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
        wait_ok(&format!("http://{addr}/ready")).await;
    }
    wait_ok(&format!("http://{admin_a}/ready")).await;
    let call = format!("http://{service_a}/call");
    wait_ok(&call).await;

    let before = Snapshot::take(service_a, admin_a, &admin_b).await;
    for _ in 0..N {
        http_get(&call).await;
    }
    for _ in 0..M {
        let denied = get(&impostor).await.unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    }
    // A server records a call when its response ends, which may trail the client by a moment.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let after = loop {
        let now = Snapshot::take(service_a, admin_a, &admin_b).await;
        let retries = now.counted_retries - before.counted_retries;
        let want = f64::from(N + M) + retries as f64;
        let got = now.servers("mesh_server_requests_total", &[])
            - before.servers("mesh_server_requests_total", &[]);
        if got == want {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the servers recorded {got} requests, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let client = |name: &str, labels: &[(&str, &str)]| {
        after.client(name, labels) - before.client(name, labels)
    };
    let servers = |name: &str, labels: &[(&str, &str)]| {
        after.servers(name, labels) - before.servers(name, labels)
    };
    let retries = (after.counted_retries - before.counted_retries) as f64;
    eprintln!("{N} calls through serviceA took {retries} retries");
    assert!(retries > 0.0, "the flaky replica caused no retries");

    // serviceA: one request per call, each OK or (after three UNAVAILABLE attempts) UNAVAILABLE.
    let requests = "mesh_client_requests_total";
    let to_b = |status| {
        [
            ("protocol", "grpc"),
            ("peer", SERVICEB_ID),
            ("status", status),
        ]
    };
    let ok = client(requests, &to_b("0"));
    let unavailable = client(requests, &to_b("14"));
    assert_eq!(client(requests, &[]), f64::from(N));
    assert_eq!(
        ok + unavailable,
        f64::from(N),
        "ok {ok}, unavailable {unavailable}"
    );
    assert_eq!(
        client(
            "mesh_client_request_duration_seconds_count",
            &[("status", "0")]
        ),
        ok
    );
    assert_eq!(client("mesh_client_retries_total", &[]), retries);
    assert_eq!(
        client("mesh_client_attempts_total", &[]),
        f64::from(N) + retries
    );
    assert_eq!(after.client("mesh_client_requests_in_flight", &[]), 0.0);

    // The replicas: serviceA's attempts, each OK or UNAVAILABLE (the replica's own status), and
    // the impostor's calls, denied.
    let requests = "mesh_server_requests_total";
    let from = |method, peer, status| {
        [
            ("protocol", "grpc"),
            ("method", method),
            ("peer", peer),
            ("status", status),
        ]
    };
    assert_eq!(servers(requests, &from(GET_PATH, SERVICEA_ID, "0")), ok);
    assert_eq!(
        servers(requests, &from(GET_PATH, SERVICEA_ID, "14")),
        retries + unavailable,
        "every failed attempt of serviceA is a retry or a failed call"
    );
    // A status the mesh made (the denial) keeps no method label of its own: callers cannot
    // mint series with made-up methods.
    assert_eq!(
        servers(requests, &from("other", IMPOSTOR_ID, "7")),
        f64::from(M),
        "{:#?}",
        after.series(requests)
    );
    assert_eq!(
        servers("mesh_server_denied_total", &[("peer", IMPOSTOR_ID)]),
        f64::from(M)
    );
    assert_eq!(servers("mesh_server_denied_total", &[]), f64::from(M));
    assert_eq!(
        servers("mesh_server_request_duration_seconds_count", &[]),
        f64::from(N + M) + retries
    );
    assert_eq!(after.servers("mesh_server_requests_in_flight", &[]), 0.0);
    assert!(after.servers("mesh_server_connections_total", &[("tls", "true")]) > 0.0);

    promtool_check("serviceA", &after.service_a);
    for (replica, text) in REPLICAS.iter().zip(&after.replicas) {
        promtool_check(replica, text);
    }
    let control = mesh.control.as_ref().unwrap();
    let control_metrics = metrics(control_admin_addr(control).await).await;
    promtool_check("mesh-control", &control_metrics);
}
