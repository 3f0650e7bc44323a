//! Resilience end to end, with real processes on loopback: serviceB replicas that fail a share
//! of their calls, answer late or never answer, policies written in YAML and served by
//! mesh-control, and a Rust MeshChannel that retries, times out, ejects, breaks circuits and
//! injects faults as they say.

mod support;

use std::time::Duration;

use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient as BClient;
use mesh_client::MeshChannel;
use support::{Call, Mesh, assert_eventually, call_n, failures, load, load_for, split_config};

const TARGET: &str = "xds:///serviceb.demo:50051";
const SERVICEB_V1: &str = "serviceb-v1.demo:50051";
const TOKEN: &str = "dev-serviceb";

/// `split_config(1, 0)` (the route `split` sends every call to serviceb-v1) and `policies`.
fn config(policies: &str) -> String {
    format!("{}---\n{policies}", split_config(1, 0))
}

/// Starts serviceB replicas of serviceb-v1: (name, flags).
async fn replicas(mesh: &mut Mesh, replicas: &[(&str, &[&str])]) {
    for (name, flags) in replicas {
        mesh.start_service_b_with(name, SERVICEB_V1, TOKEN, flags)
            .await;
    }
}

/// Waits until every one of `names` answered some of a batch of `batch` calls.
async fn until_answering(client: &BClient<MeshChannel>, names: &[&str], batch: usize) {
    assert_eventually("every replica answers", Duration::from_secs(20), || async {
        let counts = call_n(client, batch).await;
        if names.iter().all(|n| counts.contains_key(*n)) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;
}

fn succeeded(calls: &[Call]) -> usize {
    calls.iter().filter(|c| c.result.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_hide_a_flaky_replica_within_the_retry_budget() {
    let policies = r#"apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: { name: retries, namespace: demo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }]
  retry:
    attempts: 2
    grpcCodes: [UNAVAILABLE]
    backoff: { base: 5ms, max: 50ms }
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: { name: budget, namespace: demo }
spec:
  targetRefs: [{ kind: Service, name: serviceb-v1 }]
  retryBudget: { ratio: 0.25, minRetriesPerSecond: 10, ttl: 10s }
"#;
    let (ratio, min_per_second) = (0.25, 10.0);
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(policies))]).await;
    replicas(
        &mut mesh,
        &[
            ("serviceb-v1-ok", &[]),
            ("serviceb-v1-flaky", &["--fail-rate", "0.3"]),
        ],
    )
    .await;
    let channel = mesh.channel(TARGET).await;
    let client = BClient::new(channel.clone());
    until_answering(&client, &["serviceb-v1-ok", "serviceb-v1-flaky"], 30).await;

    let before = channel.counters();
    let start = tokio::time::Instant::now();
    let calls = load(&client, 10_000, 16).await;
    let elapsed = start.elapsed().as_secs_f64();
    let after = channel.counters();

    let ok = succeeded(&calls);
    assert!(
        ok >= 9_990,
        "{ok} of 10000 succeeded: {:?}",
        failures(&calls)
    );
    let retries = after.retries - before.retries;
    let budget = ratio * 10_000.0 + min_per_second * elapsed;
    assert!(
        (retries as f64) <= budget,
        "{retries} retries in {elapsed:.1} s, over the budget of {budget:.0}"
    );
    // The flaky replica failed some calls, so retries did happen (the test can fail).
    assert!(retries >= 500, "only {retries} retries: {after:?}");

    // What the servers saw: every attempt, and no more load than the budget allows.
    let (ok_received, _) = mesh.stop_and_count("serviceb-v1-ok").await;
    let (flaky_received, flaky_failed) = mesh.stop_and_count("serviceb-v1-flaky").await;
    let received = ok_received + flaky_received;
    assert_eq!(
        received, after.attempts,
        "the servers received {received} calls, the client counted {} attempts",
        after.attempts
    );
    let extra = (received - before.attempts) as f64 - 10_000.0;
    assert!(
        extra <= budget,
        "retries added {extra} calls on the servers, over the budget of {budget:.0}"
    );
    assert!(flaky_failed > 0, "the flaky replica failed no call");
    eprintln!(
        "{ok} of 10000 calls succeeded in {elapsed:.1} s with {retries} retries (budget \
         {budget:.0}); servers: ok {ok_received}, flaky {flaky_received} ({flaky_failed} failed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_endpoint_is_ejected_and_calls_succeed_within_the_route_timeout() {
    // Round robin, so the stalled endpoint gets its turn until it is ejected (peak-EWMA would
    // mostly avoid it on its own, and the test is about ejection).
    let policies = r#"apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: { name: timeouts, namespace: demo }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }]
  timeouts: { request: 2s, perTry: 250ms }
  retry:
    attempts: 2
    grpcCodes: [UNAVAILABLE, DEADLINE_EXCEEDED]
    backoff: { base: 5ms, max: 50ms }
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: { name: ejection, namespace: demo }
spec:
  targetRefs: [{ kind: Service, name: serviceb-v1 }]
  loadBalancer: { type: RoundRobin }
  retryBudget: { ratio: 0.5, minRetriesPerSecond: 100, ttl: 10s }
  outlierDetection:
    interval: 1s
    baseEjectionTime: 30s
    maxEjectionPercent: 50
    consecutiveFailures: 3
"#;
    let (route_timeout, per_try) = (Duration::from_secs(2), Duration::from_millis(250));
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(policies))]).await;
    // The stalled replica first, so that it is registered before the others answer.
    replicas(
        &mut mesh,
        &[
            ("serviceb-v1-stalled", &["--stall"]),
            ("serviceb-v1-a", &[]),
            ("serviceb-v1-b", &[]),
        ],
    )
    .await;
    let channel = mesh.channel(TARGET).await;
    let client = BClient::new(channel.clone());
    until_answering(&client, &["serviceb-v1-a"], 1).await;

    let calls = load_for(&client, Duration::from_secs(4), 16).await;
    let counters = channel.counters();
    assert!(counters.ejections >= 1, "nothing was ejected: {counters:?}");
    let after_first_second: Vec<&Call> = calls
        .iter()
        .filter(|c| c.started >= Duration::from_secs(1))
        .collect();
    let ok = after_first_second
        .iter()
        .filter(|c| c.result.is_ok())
        .count();
    let total = after_first_second.len();
    assert!(total >= 1_000, "only {total} calls after the first second");
    assert!(
        ok * 1000 >= total * 999,
        "{ok} of {total} calls after the first second succeeded: {:?}",
        failures(&calls)
    );
    let slowest = after_first_second
        .iter()
        .filter(|c| c.result.is_ok())
        .map(|c| c.took)
        .max()
        .unwrap_or_default();
    assert!(
        slowest <= route_timeout,
        "a call took {slowest:?}, over the route timeout"
    );
    // Once ejected, the stalled endpoint costs no call a per-try timeout any more.
    let waited = after_first_second
        .iter()
        .filter(|c| c.took >= per_try)
        .count();
    assert!(
        waited * 1000 <= total,
        "{waited} of {total} calls after the first second took {per_try:?} or more"
    );
    // The stalled replica was in the pool: it received calls (and answered none).
    let (stalled, _) = mesh.stop_and_count("serviceb-v1-stalled").await;
    assert!(stalled >= 1, "the stalled replica never got a call");
    eprintln!(
        "{ok} of {total} calls after the first second succeeded, the slowest in {slowest:?}; \
         the stalled replica got {stalled} calls; {counters:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_breaker_fails_the_call_over_its_limit_at_once() {
    const MAX: usize = 4;
    let policies = format!(
        r#"apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {{ name: breaker, namespace: demo }}
spec:
  targetRefs: [{{ kind: Service, name: serviceb-v1 }}]
  circuitBreaker: {{ maxRequests: {MAX}, maxPendingRequests: 0 }}
"#
    );
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(&policies))]).await;
    replicas(&mut mesh, &[("serviceb-v1-slow", &["--delay", "3s"])]).await;
    let channel = mesh.channel(TARGET).await;
    let client = BClient::new(channel.clone());
    until_answering(&client, &["serviceb-v1-slow"], 1).await;

    let before = channel.counters();
    let in_flight: Vec<_> = (0..MAX)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .clone()
                    .get(GetRequest {
                        caller: "in-flight".into(),
                    })
                    .await
            })
        })
        .collect();
    assert_eventually(
        "the calls are in flight",
        Duration::from_secs(2),
        || async {
            let sent = channel.counters().attempts - before.attempts;
            if sent == MAX as u64 {
                Ok(())
            } else {
                Err(format!("{sent} attempts sent"))
            }
        },
    )
    .await;

    let start = tokio::time::Instant::now();
    let over = client
        .clone()
        .get(GetRequest {
            caller: "one too many".into(),
        })
        .await;
    let took = start.elapsed();
    let status = over.expect_err("the call over the limit succeeded");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("circuit breaker"),
        "not the breaker's error: {status:?}"
    );
    assert!(
        took < Duration::from_secs(1),
        "failed after {took:?}, not at once"
    );
    assert_eq!(
        channel.counters().breaker_overflows - before.breaker_overflows,
        1
    );

    for call in in_flight {
        call.await.unwrap().expect("a call under the limit failed");
    }
    // Slots free again: the next call goes through.
    client
        .clone()
        .get(GetRequest {
            caller: "after".into(),
        })
        .await
        .expect("a call after the others finished failed");
}

/// A RoutePolicy on the route `split` aborting `percent` % of calls with UNAVAILABLE.
fn abort_policy(percent: u32) -> String {
    format!(
        r#"apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {{ name: faults, namespace: demo }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }}]
  fault:
    abort: {{ grpcStatus: UNAVAILABLE, percent: {percent} }}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection_aborts_the_configured_share() {
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(&abort_policy(20)))]).await;
    replicas(&mut mesh, &[("serviceb-v1", &[])]).await;
    let channel = mesh.channel(TARGET).await;
    let client = BClient::new(channel.clone());
    until_answering(&client, &["serviceb-v1"], 10).await;

    let before = channel.counters();
    let calls = load(&client, 2_000, 16).await;
    let after = channel.counters();
    let aborted = calls
        .iter()
        .filter(|c| matches!(&c.result, Err(s) if s.code() == tonic::Code::Unavailable))
        .count();
    // 20 % of 2000: a binomial sd of ~18, so 17..23 % is over 3 sd each way.
    assert!(
        (340..=460).contains(&aborted),
        "{aborted} of 2000 aborted: {:?}",
        failures(&calls)
    );
    assert_eq!(
        aborted + succeeded(&calls),
        2_000,
        "other failures: {:?}",
        failures(&calls)
    );
    assert_eq!(
        after.injected_aborts - before.injected_aborts,
        aborted as u64,
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_in_yaml_applies_to_a_running_client() {
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(&abort_policy(0)))]).await;
    replicas(&mut mesh, &[("serviceb-v1", &[])]).await;
    let channel = mesh.channel(TARGET).await;
    let client = BClient::new(channel.clone());
    until_answering(&client, &["serviceb-v1"], 10).await;
    let counts = call_n(&client, 100).await;
    assert_eq!(counts.get("serviceb-v1"), Some(&100), "{counts:?}");

    mesh.write("mesh.yaml", &config(&abort_policy(100)));
    let took = assert_eventually("every call is aborted", Duration::from_secs(15), || async {
        let counts = call_n(&client, 20).await;
        if counts.len() == 1 && counts.keys().all(|k| k.starts_with("error: Unavailable")) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;
    eprintln!("the fault policy reached the client in {took:?}");
    assert!(channel.counters().injected_aborts >= 20);

    // Without the policy, calls go through again.
    mesh.write("mesh.yaml", &config(""));
    assert_eventually("calls succeed again", Duration::from_secs(15), || async {
        let counts = call_n(&client, 20).await;
        if counts.get("serviceb-v1") == Some(&20) {
            Ok(())
        } else {
            Err(format!("answers: {counts:?}"))
        }
    })
    .await;
}
