//! Outlier detection on paused time: each ejection rule, ejection lengths and returns.

use std::sync::atomic::Ordering;

use mesh_core::model::{FailurePercentageEjection, SuccessRateEjection};
use tokio::time::sleep;

use super::*;
use crate::balance::DEFAULT_DECAY;

const INTERVAL: Duration = Duration::from_secs(10);
const BASE: Duration = Duration::from_secs(30);
const MS: Duration = Duration::from_millis(1);

fn config() -> OutlierDetection {
    OutlierDetection {
        interval: INTERVAL,
        base_ejection_time: BASE,
        max_ejection_time: Duration::from_secs(300),
        max_ejection_percent: 100,
        consecutive_failures: Some(3),
        success_rate: None,
        failure_percentage: None,
    }
}

struct Cluster {
    detector: Arc<Detector>,
    endpoints: Vec<Arc<Endpoint>>,
    counters: Arc<Counters>,
}

impl Cluster {
    fn new(hosts: u16, config: OutlierDetection) -> Self {
        let counters = Arc::new(Counters::default());
        let detector = Detector::start("c".into(), config, Arc::clone(&counters));
        let endpoints: Vec<_> = (1..=hosts)
            .map(|port| {
                let address = ([10, 0, 0, 1], port).into();
                Arc::new(Endpoint::new(
                    "c".into(),
                    address,
                    DEFAULT_DECAY,
                    Some(Arc::clone(&detector)),
                ))
            })
            .collect();
        detector.set_endpoints(&endpoints);
        Self {
            detector,
            endpoints,
            counters,
        }
    }

    fn ejected(&self) -> Vec<bool> {
        self.endpoints.iter().map(|e| e.is_ejected()).collect()
    }

    fn ejections(&self) -> u64 {
        self.counters.ejections.load(Ordering::Relaxed)
    }
}

fn fail(endpoint: &Arc<Endpoint>, times: u32) {
    for _ in 0..times {
        endpoint.start().failed();
    }
}

fn succeed(endpoint: &Arc<Endpoint>, times: u32) {
    for _ in 0..times {
        endpoint.start().succeeded();
    }
}

/// Asserts that `endpoint` stays ejected for `length` (give or take a millisecond) from now.
async fn assert_ejected_for(endpoint: &Endpoint, length: Duration) {
    assert!(endpoint.is_ejected(), "ejected at first");
    sleep(length - MS).await;
    assert!(
        endpoint.is_ejected(),
        "still ejected just before {length:?}"
    );
    sleep(2 * MS).await;
    assert!(!endpoint.is_ejected(), "back just after {length:?}");
}

#[tokio::test(start_paused = true)]
async fn consecutive_failures_eject_at_once_and_the_base_time_later_the_endpoint_returns() {
    let c = Cluster::new(3, config());
    let e = &c.endpoints[0];
    fail(e, 2);
    succeed(e, 1);
    fail(e, 2);
    assert!(!e.is_ejected(), "a success breaks the run of failures");
    assert!(!c.detector.any_ejected());
    fail(e, 1);
    assert_eq!(c.ejected(), [true, false, false]);
    assert!(c.detector.any_ejected());
    assert_eq!(c.ejections(), 1);
    assert_ejected_for(e, BASE).await;
    assert!(!c.detector.any_ejected());
}

#[tokio::test(start_paused = true)]
async fn each_ejection_lasts_longer_up_to_the_max() {
    let c = Cluster::new(
        3,
        OutlierDetection {
            max_ejection_time: Duration::from_secs(70),
            ..config()
        },
    );
    let e = &c.endpoints[0];
    fail(e, 3);
    assert_ejected_for(e, BASE).await;
    fail(e, 3);
    assert_ejected_for(e, 2 * BASE).await;
    fail(e, 3);
    assert_ejected_for(e, Duration::from_secs(70)).await;
    assert_eq!(c.ejections(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_max_below_the_base_means_the_base() {
    let c = Cluster::new(
        3,
        OutlierDetection {
            max_ejection_time: Duration::from_secs(10),
            ..config()
        },
    );
    let e = &c.endpoints[0];
    fail(e, 3);
    assert_ejected_for(e, BASE).await;
    fail(e, 3);
    assert_ejected_for(e, BASE).await;
}

#[tokio::test(start_paused = true)]
async fn an_interval_spent_healthy_forgives_one_ejection() {
    let c = Cluster::new(3, config());
    let e = &c.endpoints[0];
    fail(e, 3);
    assert_ejected_for(e, BASE).await; // back at 30 s
    fail(e, 3);
    assert_ejected_for(e, 2 * BASE).await; // back at 90 s, ejected twice
    // The checks at 110 s and 120 s each forgive one; the one at 100 s came too soon.
    sleep(INTERVAL * 3).await;
    fail(e, 3);
    assert_ejected_for(e, BASE).await;
}

#[tokio::test(start_paused = true)]
async fn never_more_than_the_max_ejection_percent_but_at_least_one() {
    let c = Cluster::new(
        3,
        OutlierDetection {
            max_ejection_percent: 10,
            ..config()
        },
    );
    fail(&c.endpoints[0], 3);
    fail(&c.endpoints[1], 3);
    assert_eq!(c.ejected(), [true, false, false], "10 % of 3 hosts: one");
    assert_eq!(c.ejections(), 1);
    sleep(BASE + MS).await;
    fail(&c.endpoints[1], 1);
    assert_eq!(c.ejected(), [false, true, false], "the slot is free again");

    let none = Cluster::new(
        3,
        OutlierDetection {
            max_ejection_percent: 0,
            ..config()
        },
    );
    fail(&none.endpoints[0], 10);
    assert_eq!(none.ejected(), [false, false, false]);
}

#[tokio::test(start_paused = true)]
async fn a_poor_success_rate_is_ejected_at_the_interval_check() {
    let c = Cluster::new(
        5,
        OutlierDetection {
            consecutive_failures: None,
            success_rate: Some(SuccessRateEjection {
                stdev_factor: 1.9,
                enforcing_percent: 100,
                minimum_hosts: 5,
                request_volume: 100,
            }),
            ..config()
        },
    );
    for e in &c.endpoints[..4] {
        succeed(e, 100);
    }
    for _ in 0..50 {
        succeed(&c.endpoints[4], 1);
        fail(&c.endpoints[4], 1);
    }
    sleep(INTERVAL - MS).await;
    assert_eq!(c.ejected(), [false; 5], "not before the check");
    sleep(2 * MS).await;
    assert_eq!(c.ejected(), [false, false, false, false, true]);
    assert_eq!(c.ejections(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_high_failure_percentage_is_ejected_at_the_interval_check_if_enforced() {
    let failure_percentage = |enforcing_percent| {
        Some(FailurePercentageEjection {
            threshold: 85,
            enforcing_percent,
            minimum_hosts: 3,
            request_volume: 50,
        })
    };
    for (enforcing, expected) in [(100, true), (0, false)] {
        let c = Cluster::new(
            3,
            OutlierDetection {
                consecutive_failures: None,
                failure_percentage: failure_percentage(enforcing),
                ..config()
            },
        );
        succeed(&c.endpoints[0], 50);
        succeed(&c.endpoints[1], 50);
        succeed(&c.endpoints[2], 5);
        fail(&c.endpoints[2], 45);
        sleep(INTERVAL + MS).await;
        assert_eq!(
            c.ejected(),
            [false, false, expected],
            "enforcing {enforcing}%"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn each_interval_counts_afresh() {
    let c = Cluster::new(
        3,
        OutlierDetection {
            consecutive_failures: None,
            failure_percentage: Some(FailurePercentageEjection {
                threshold: 50,
                enforcing_percent: 100,
                minimum_hosts: 1,
                request_volume: 10,
            }),
            ..config()
        },
    );
    fail(&c.endpoints[0], 9);
    sleep(INTERVAL + MS).await;
    fail(&c.endpoints[0], 9);
    sleep(INTERVAL).await;
    assert!(
        !c.endpoints[0].is_ejected(),
        "9 failures per interval is too few to judge"
    );
    fail(&c.endpoints[0], 10);
    sleep(INTERVAL).await;
    assert!(c.endpoints[0].is_ejected());
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_left_the_cluster_is_not_ejected() {
    let c = Cluster::new(3, config());
    c.detector.set_endpoints(&c.endpoints[1..]);
    fail(&c.endpoints[0], 5);
    assert!(!c.endpoints[0].is_ejected());
    assert_eq!(c.ejections(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_task_ends_with_the_detector() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let c = Cluster::new(2, config());
    fail(&c.endpoints[0], 3);
    assert_eq!(metrics.num_alive_tasks(), before + 1);
    let in_flight = c.endpoints[1].start();
    drop(c);
    sleep(MS).await;
    assert_eq!(metrics.num_alive_tasks(), before + 1, "a request holds it");
    drop(in_flight);
    sleep(MS).await;
    assert_eq!(metrics.num_alive_tasks(), before);
}
