//! The load generator: closed-loop phases (a fixed number of calls in flight) and open-loop
//! phases (a fixed rate, whatever the server does).
//!
//! In the open loop a pacing thread (not the async runtime, whose timers tick in whole
//! milliseconds) releases each call at its intended send time, and the latency is counted from
//! that time, not from when the call actually left: if the client or the server falls behind,
//! the calls queued behind the stall count the wait (no coordinated omission).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::latency::Latencies;
use super::proc_stat;
use super::report::{LoadReport, PhaseReport, RatePhase};

/// One call of the service under test: `Ok` for an OK gRPC status, else why not.
pub type Call = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Makes calls; cheap to clone.
pub type Caller = Arc<dyn Fn() -> Call + Send + Sync>;

/// How long a call issued in an open-loop phase may still take after the phase ends.
const STRAGGLER_GRACE: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Calls at one in flight before measuring, unrecorded.
    pub warm_up: Duration,
    /// How long each measured phase lasts.
    pub phase: Duration,
    /// The fixed rates, in calls per second.
    pub rates: Vec<u32>,
    /// Calls in flight for the throughput phase.
    pub max_in_flight: usize,
}

/// Runs `plan` against `caller`. `watched` names other processes (by pid) whose CPU time over
/// each fixed-rate phase and the throughput phase, and peak RSS at the end, are reported along
/// with this process's (`loadgen`).
pub async fn run(caller: &Caller, plan: &Plan, watched: &[(String, u32)]) -> LoadReport {
    let mut processes = vec![("loadgen".to_string(), std::process::id())];
    processes.extend(watched.iter().cloned());
    closed_loop(caller, 1, plan.warm_up).await;
    let one_in_flight = closed_loop(caller, 1, plan.phase).await;
    let mut rates = Vec::new();
    for &rate in &plan.rates {
        let before = cpu_times(&processes);
        let phase = open_loop(caller, rate, plan.phase).await;
        let after = cpu_times(&processes);
        rates.push(RatePhase {
            target_rps: rate,
            cpu_us_per_request: cpu_per_call(&before, &after, phase.ok),
            phase,
        });
    }
    let before = cpu_times(&processes);
    let max = closed_loop(caller, plan.max_in_flight, plan.phase).await;
    let after = cpu_times(&processes);
    let cpu_us_per_request = cpu_per_call(&before, &after, max.ok);
    let peak_rss_kib = processes
        .iter()
        .filter_map(|(name, pid)| Some((name.clone(), proc_stat::peak_rss_kib(*pid).ok()?)))
        .collect();
    LoadReport {
        one_in_flight,
        rates,
        max,
        max_in_flight: plan.max_in_flight,
        cpu_us_per_request,
        peak_rss_kib,
    }
}

/// The CPU times of `processes` now; a process that cannot be read is left out (and so is
/// missing from the report, which the table shows).
fn cpu_times(processes: &[(String, u32)]) -> BTreeMap<String, Duration> {
    processes
        .iter()
        .filter_map(|(name, pid)| match proc_stat::cpu_time(*pid) {
            Ok(time) => Some((name.clone(), time)),
            Err(e) => {
                eprintln!("no CPU time for {name}: {e}");
                None
            }
        })
        .collect()
}

/// Per process read at both ends: the CPU time between `before` and `after` divided by the
/// `ok` calls made in between, in microseconds.
fn cpu_per_call(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    ok: u64,
) -> BTreeMap<String, f64> {
    let calls = ok.max(1) as f64;
    before
        .iter()
        .filter_map(|(name, start)| {
            let end = after.get(name)?;
            Some((
                name.clone(),
                end.saturating_sub(*start).as_nanos() as f64 / 1000.0 / calls,
            ))
        })
        .collect()
}

/// `in_flight` workers each making one call after another for `duration`.
pub async fn closed_loop(caller: &Caller, in_flight: usize, duration: Duration) -> PhaseReport {
    let start = Instant::now();
    let end = start + duration;
    let mut workers = JoinSet::new();
    for _ in 0..in_flight.max(1) {
        let caller = caller.clone();
        workers.spawn(async move {
            let mut latencies = Latencies::default();
            while Instant::now() < end {
                let sent = Instant::now();
                match caller().await {
                    Ok(()) => latencies.record(sent.elapsed()),
                    Err(e) => latencies.fail(e),
                }
            }
            latencies
        });
    }
    let mut total = Latencies::default();
    while let Some(worker) = workers.join_next().await {
        match worker {
            Ok(latencies) => total.merge(&latencies),
            Err(e) => total.fail(format!("a load worker failed: {e}")),
        }
    }
    total.report(start.elapsed())
}

/// Calls at `rate` per second for `duration`, each timed from its intended send time.
pub async fn open_loop(caller: &Caller, rate: u32, duration: Duration) -> PhaseReport {
    let interval = Duration::from_secs(1) / rate.max(1);
    let (due_tx, mut due) = mpsc::unbounded_channel();
    let start = Instant::now();
    let end = start + duration;
    std::thread::spawn(move || pace(start, end, interval, due_tx));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let mut calls = JoinSet::new();
    while let Some(intended) = due.recv().await {
        let (caller, latencies) = (caller.clone(), latencies.clone());
        calls.spawn(async move {
            let result = caller().await;
            let mut latencies = latencies.lock().expect("not poisoned");
            match result {
                Ok(()) => latencies.record(intended.elapsed()),
                Err(e) => latencies.fail(e),
            }
        });
        // Reap finished calls as we go, so the set stays small.
        while calls.try_join_next().is_some() {}
    }
    let finished = tokio::time::timeout(STRAGGLER_GRACE, async {
        while calls.join_next().await.is_some() {}
    })
    .await;
    let mut total = latencies.lock().expect("not poisoned").clone();
    if finished.is_err() {
        for _ in 0..calls.len() {
            total.fail(format!(
                "no answer within {STRAGGLER_GRACE:?} after the phase"
            ));
        }
    }
    // The elapsed time is that of the sending, so the rate shows whether the pacing kept up.
    let mut report = total.report(duration);
    report.seconds = start.elapsed().as_secs_f64();
    report
}

/// Sends each intended send time from `start` to `end`, every `interval`, when it comes.
/// Sleeps in the kernel (to within tens of microseconds); a late wake-up only delays the
/// release, which the latency (counted from the intended time) then includes.
fn pace(start: Instant, end: Instant, interval: Duration, due: mpsc::UnboundedSender<Instant>) {
    let mut intended = start;
    while intended < end {
        let now = Instant::now();
        if intended > now {
            std::thread::sleep(intended - now);
        }
        if due.send(intended).is_err() {
            return;
        }
        intended += interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(delay: Duration, fail_every: u64) -> Caller {
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Arc::new(move || {
            let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if n.is_multiple_of(fail_every) {
                    Err(format!("call {n} failed"))
                } else {
                    Ok(())
                }
            })
        })
    }

    #[test]
    fn cpu_per_call_divides_by_successful_calls() {
        let before = BTreeMap::from([
            ("loadgen".to_string(), Duration::from_millis(100)),
            ("gone".to_string(), Duration::from_millis(5)),
        ]);
        let after = BTreeMap::from([("loadgen".to_string(), Duration::from_millis(150))]);
        let per_call = cpu_per_call(&before, &after, 200);
        assert_eq!(per_call, BTreeMap::from([("loadgen".to_string(), 250.0)]));
    }

    #[tokio::test]
    async fn open_loop_keeps_the_rate_and_counts_errors() {
        let report = open_loop(
            &caller(Duration::from_millis(2), 10),
            500,
            Duration::from_millis(400),
        )
        .await;
        assert_eq!(report.ok + report.errors, 200);
        assert_eq!(report.errors, 20);
        // The rate counts the 180 successful calls only, over the 0.4 s of sending.
        assert!((report.rps - 450.0).abs() < 1e-6, "{report:?}");
        assert_eq!(report.first_error.as_deref(), Some("call 10 failed"));
        assert!(report.p50_us >= 2000.0, "{report:?}");
    }

    #[tokio::test]
    async fn open_loop_latency_includes_the_wait_behind_a_slow_server() {
        // One call at a time is served (a 10 ms "server" behind a lock) while 200 per second
        // are sent: the queue grows, and latencies counted from the intended send times grow
        // with it, far past the 10 ms service time.
        let server = Arc::new(tokio::sync::Mutex::new(()));
        let slow: Caller = Arc::new(move || {
            let server = server.clone();
            Box::pin(async move {
                let _one_at_a_time = server.lock().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            })
        });
        let report = open_loop(&slow, 200, Duration::from_millis(300)).await;
        assert_eq!(report.ok, 60);
        assert!(report.p99_us > 200_000.0, "{report:?}");
    }

    #[tokio::test]
    async fn closed_loop_keeps_calls_in_flight() {
        let report = closed_loop(
            &caller(Duration::from_millis(10), 0),
            4,
            Duration::from_millis(200),
        )
        .await;
        // 4 workers, 10 ms per call, 200 ms: about 80 calls (fewer on a loaded machine).
        assert!((20..=88).contains(&report.ok), "{report:?}");
        assert_eq!(report.errors, 0);
        assert!(report.p50_us >= 10_000.0);
    }
}
