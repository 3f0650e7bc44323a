//! The retry budget end to end, where it binds: a serviceB replica that fails every call, a
//! route that would retry each call three times, and a BackendPolicy budget that allows only a
//! tenth of the calls in retries. The retries the client made, and the calls the replica
//! received, must come close to the budget without going over it.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use examples::pb::service_b_client::ServiceBClient as BClient;
use support::{Mesh, assert_eventually, call_n, failures, load, split_config};

const REPLICA: &str = "serviceb-v1-broken";
const CALLS: usize = 2_000;
const IN_FLIGHT: usize = 16;
const RATIO: f64 = 0.1;
const MIN_PER_SECOND: f64 = 1.0;
/// Longer than the whole test, so that every call and retry of it falls in one window of the
/// budget, where the bound is `RATIO * calls + MIN_PER_SECOND * TTL_SECONDS` (over several
/// windows the budget refills and the bound is looser).
const TTL_SECONDS: f64 = 30.0;

/// Every call of route `split` tried up to four times on UNAVAILABLE, the budget above on
/// serviceb-v1, and no outlier detection (the broken replica is the only endpoint anyway).
fn config() -> String {
    format!(
        r#"{}---
apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {{ name: retries, namespace: demo }}
spec:
  targetRefs: [{{ group: gateway.networking.k8s.io, kind: GRPCRoute, name: split }}]
  retry:
    attempts: 3
    grpcCodes: [UNAVAILABLE]
    backoff: {{ base: 1ms, max: 5ms }}
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {{ name: budget, namespace: demo }}
spec:
  targetRefs: [{{ kind: Service, name: serviceb-v1 }}]
  retryBudget: {{ ratio: {RATIO}, minRetriesPerSecond: {MIN_PER_SECOND}, ttl: {TTL_SECONDS}s }}
"#,
        split_config(1, 0)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_caps_retries_when_every_call_fails() {
    let mut mesh = Mesh::start(&[("mesh.yaml", &config())]).await;
    mesh.start_service_b_with(
        REPLICA,
        "serviceb-v1.demo:50051",
        "dev-serviceb",
        &["--fail-rate", "1"],
    )
    .await;
    let channel = mesh.channel("xds:///serviceb.demo:50051").await;
    let client = BClient::new(channel.clone());

    // Every call counts towards the budget from the first one on, so the warm-up calls are
    // counted as well, and the bound is checked on the channel's whole life.
    let start = tokio::time::Instant::now();
    let warm_up = AtomicU64::new(0);
    assert_eventually(
        "the replica fails calls",
        Duration::from_secs(20),
        || async {
            warm_up.fetch_add(1, Ordering::Relaxed);
            let counts = call_n(&client, 1).await;
            if counts.keys().all(|k| k.contains("on purpose")) {
                Ok(())
            } else {
                Err(format!("answers: {counts:?}"))
            }
        },
    )
    .await;
    let calls = load(&client, CALLS, IN_FLIGHT).await;
    let elapsed = start.elapsed();
    let counters = channel.counters();

    // The bound below holds within one window of the budget.
    assert!(
        elapsed.as_secs_f64() + 2.0 < TTL_SECONDS,
        "the calls took {elapsed:?}, longer than the budget's window: the bound does not apply"
    );
    // Each call failed with the replica's own error, whatever the retries: the budget turns
    // retries down, never calls.
    let ours = calls
        .iter()
        .filter(|c| {
            matches!(&c.result, Err(s) if s.code() == tonic::Code::Unavailable
            && s.message().contains("on purpose"))
        })
        .count();
    assert_eq!(ours, CALLS, "other outcomes: {:?}", failures(&calls));

    let made = (CALLS as u64 + warm_up.load(Ordering::Relaxed)) as f64;
    // Two retries racing for the last unit of budget may both get it, at most one per call in
    // flight.
    let budget = RATIO * made + MIN_PER_SECOND * TTL_SECONDS + IN_FLIGHT as f64;
    let retries = counters.retries;
    assert!(
        retries as f64 <= budget,
        "{retries} retries for {made} calls in {elapsed:?}, over the budget of {budget:.0}: \
         {counters:?}"
    );
    // Without a budget, every call would take three retries; with it, the retries use up the
    // budget of the load alone, nearly all of it (so a budget that lets too few through fails).
    let floor = (RATIO * CALLS as f64 + MIN_PER_SECOND * TTL_SECONDS) * 0.8;
    assert!(
        retries as f64 >= floor,
        "only {retries} retries for {made} calls, below {floor:.0}: {counters:?}"
    );
    assert!(
        counters.budget_exhausted >= CALLS as u64 / 2,
        "the budget turned down only {} retries: {counters:?}",
        counters.budget_exhausted
    );

    // The replica saw the same: every attempt, and no more retries than the budget allows.
    let (received, failed) = mesh.stop_and_count(REPLICA).await;
    assert_eq!(received, failed, "the replica answered some calls");
    assert_eq!(
        received, counters.attempts,
        "the replica received {received} calls, the client counted {} attempts",
        counters.attempts
    );
    assert!(
        received as f64 <= made + budget,
        "the replica received {received} calls for {made} calls, over the budget of {budget:.0}"
    );
    eprintln!(
        "{made} calls in {elapsed:?}: {retries} retries (budget {budget:.0}), {} turned down; \
         the replica received {received}",
        counters.budget_exhausted
    );
}
