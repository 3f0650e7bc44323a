//! Balancers as the request path uses them: picks by every policy, avoiding and ejection, and
//! the cluster state kept across snapshots.

use std::time::Duration;

use mesh_core::model::{
    CircuitBreaker, Cluster, ClusterLoadAssignment, ClusterPolicy, Endpoint as ModelEndpoint,
    HealthStatus, LbPolicy, OutlierDetection, RetryBudget,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

const RING: LbPolicy = LbPolicy::RingHash {
    min_ring_size: 1024,
    max_ring_size: 4096,
};
const POLICIES: [LbPolicy; 4] = [
    LbPolicy::P2cPeakEwma,
    LbPolicy::P2cLeastRequest,
    LbPolicy::RoundRobin,
    RING,
];

fn cluster(policy: ClusterPolicy) -> Cluster {
    Cluster {
        name: "c".into(),
        eds_service_name: "c".into(),
        policy,
        protocol: UpstreamProtocol::Http2,
        tls: None,
    }
}

/// Endpoints `10.0.0.1:PORT` with these weights.
fn assignment(weighted: &[(u16, u32)]) -> ClusterLoadAssignment {
    ClusterLoadAssignment {
        cluster_name: "c".into(),
        endpoints: weighted
            .iter()
            .map(|&(port, weight)| ModelEndpoint {
                address: ([10, 0, 0, 1], port).into(),
                weight,
                health: HealthStatus::Healthy,
            })
            .collect(),
    }
}

fn state(policy: &ClusterPolicy) -> ClusterState {
    ClusterState::new("c", policy, DEFAULT_DECAY, Arc::default())
}

/// A balancer over ports `1..=n`, weight 1, balancing by `lb`.
fn balancer(lb: LbPolicy, n: u16) -> Balancer {
    let policy = ClusterPolicy {
        lb,
        ..Default::default()
    };
    let weighted: Vec<(u16, u32)> = (1..=n).map(|p| (p, 1)).collect();
    state(&policy).update(&cluster(policy), Some(&assignment(&weighted)))
}

fn port(balancer: &Balancer, hash: Option<u64>, avoid: Option<u16>, rng: &mut StdRng) -> u16 {
    let avoid: Vec<_> = avoid
        .map(|p| SocketAddr::from(([10, 0, 0, 1], p)))
        .into_iter()
        .collect();
    balancer.pick(hash, &avoid, rng).unwrap().address().port()
}

/// Gives `endpoint` an observed latency of `rtt`.
async fn measured(endpoint: &Arc<Endpoint>, rtt: Duration) {
    let request = endpoint.start();
    tokio::time::advance(rtt).await;
    request.succeeded();
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_prefers_the_faster_endpoint() {
    let b = balancer(LbPolicy::P2cPeakEwma, 2);
    measured(&b.endpoints()[0], Duration::from_millis(50)).await;
    measured(&b.endpoints()[1], Duration::from_millis(5)).await;
    let mut rng = StdRng::seed_from_u64(3);
    for _ in 0..100 {
        assert_eq!(port(&b, None, None, &mut rng), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_prefers_the_less_loaded_endpoint_of_equal_speed() {
    let b = balancer(LbPolicy::P2cPeakEwma, 2);
    measured(&b.endpoints()[0], Duration::from_millis(5)).await;
    measured(&b.endpoints()[1], Duration::from_millis(5)).await;
    let _busy = [b.endpoints()[0].start(), b.endpoints()[0].start()];
    let mut rng = StdRng::seed_from_u64(4);
    for _ in 0..100 {
        assert_eq!(port(&b, None, None, &mut rng), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn least_request_prefers_fewer_requests_in_flight_whatever_the_latency() {
    let b = balancer(LbPolicy::P2cLeastRequest, 2);
    measured(&b.endpoints()[0], Duration::from_millis(5)).await;
    measured(&b.endpoints()[1], Duration::from_millis(500)).await;
    let _busy = b.endpoints()[0].start();
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..100 {
        assert_eq!(port(&b, None, None, &mut rng), 2);
    }
}

#[test]
fn every_policy_spreads_over_equal_endpoints() {
    for lb in POLICIES {
        let b = balancer(lb, 3);
        let mut rng = StdRng::seed_from_u64(6);
        let mut counts = [0; 3];
        for _ in 0..3_000 {
            counts[usize::from(port(&b, None, None, &mut rng) - 1)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700), "{lb:?}: {counts:?}");
    }
}

#[test]
fn round_robin_and_ring_hash_follow_weights() {
    for lb in [LbPolicy::RoundRobin, RING] {
        let policy = ClusterPolicy {
            lb,
            ..Default::default()
        };
        let cla = assignment(&[(1, 1), (2, 3)]);
        let b = state(&policy).update(&cluster(policy), Some(&cla));
        let mut rng = StdRng::seed_from_u64(7);
        let heavy = (0..4_000)
            .filter(|_| port(&b, None, None, &mut rng) == 2)
            .count();
        assert!((2_800..3_200).contains(&heavy), "{lb:?}: {heavy} of 4000");
    }
}

#[test]
fn ring_hash_sends_a_key_to_the_same_endpoint() {
    let b = balancer(RING, 5);
    let mut rng = StdRng::seed_from_u64(8);
    for key in 0..200 {
        let hash = hash_key(format!("user-{key}").as_bytes());
        let first = port(&b, Some(hash), None, &mut rng);
        assert!((0..5).all(|_| port(&b, Some(hash), None, &mut rng) == first));
    }
}

#[test]
fn every_policy_avoids_the_endpoint_that_just_failed_if_it_can() {
    for lb in POLICIES {
        let b = balancer(lb, 3);
        let mut rng = StdRng::seed_from_u64(9);
        for key in 0..100u32 {
            let hash = Some(hash_key(&key.to_be_bytes()));
            let failed = port(&b, hash, None, &mut rng);
            assert_ne!(port(&b, hash, Some(failed), &mut rng), failed, "{lb:?}");
        }
        let single = balancer(lb, 1);
        assert_eq!(
            port(&single, None, Some(1), &mut rng),
            1,
            "{lb:?}: no other"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn ejected_endpoints_take_no_picks_unless_every_endpoint_is_ejected() {
    for lb in POLICIES {
        let policy = ClusterPolicy {
            lb,
            outlier_detection: Some(OutlierDetection {
                interval: Duration::from_secs(10),
                base_ejection_time: Duration::from_secs(30),
                max_ejection_time: Duration::from_secs(300),
                max_ejection_percent: 100,
                consecutive_failures: Some(1),
                success_rate: None,
                failure_percentage: None,
            }),
            ..Default::default()
        };
        let b = state(&policy).update(&cluster(policy), Some(&assignment(&[(1, 1), (2, 1)])));
        b.endpoints()[0].start().failed();
        let mut rng = StdRng::seed_from_u64(10);
        for _ in 0..50 {
            assert_eq!(port(&b, None, None, &mut rng), 2, "{lb:?}");
            assert_eq!(
                port(&b, None, Some(2), &mut rng),
                2,
                "{lb:?}: ejection beats avoid"
            );
        }
        b.endpoints()[1].start().failed();
        let picked: std::collections::BTreeSet<u16> =
            (0..50).map(|_| port(&b, None, None, &mut rng)).collect();
        assert_eq!(picked.into_iter().collect::<Vec<_>>(), [1, 2], "{lb:?}");
        assert_eq!(
            port(&b, None, Some(1), &mut rng),
            2,
            "{lb:?}: avoid still holds"
        );
    }
}

#[test]
fn an_empty_set_says_which_cluster() {
    let b = Balancer::new("serviceb", UpstreamProtocol::Http1, Vec::new());
    let err = b.pick(None, &[], &mut rand::rng()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "UNAVAILABLE: no healthy endpoints in cluster \"serviceb\""
    );
}

#[test]
fn a_missing_cluster_says_so() {
    let err = Balancer::missing("gone", &Arc::default())
        .pick(None, &[], &mut rand::rng())
        .unwrap_err();
    assert!(matches!(err, Error::ClusterNotFound { ref cluster } if cluster == "gone"));
}

#[test]
fn endpoints_breaker_and_budget_survive_endpoint_updates() {
    let policy = ClusterPolicy {
        circuit_breaker: CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        },
        ..Default::default()
    };
    let mut s = state(&policy);
    let c = cluster(policy.clone());
    let first = s.update(&c, Some(&assignment(&[(1, 1), (2, 1)])));
    let _permit = first.admit().unwrap();
    let second = s.update(&c, Some(&assignment(&[(2, 1), (3, 1)])));
    assert!(Arc::ptr_eq(&first.endpoints()[1], &second.endpoints()[0]));
    assert!(std::ptr::eq(first.retry_budget(), second.retry_budget()));
    let err = second.admit().unwrap_err();
    assert!(
        err.is_circuit_breaker_open(),
        "the permit of the first snapshot counts"
    );
    let third = s.update(&c, Some(&assignment(&[(1, 1)])));
    assert!(
        !Arc::ptr_eq(&first.endpoints()[0], &third.endpoints()[0]),
        "10.0.0.1:1 was forgotten when it left"
    );
}

#[test]
fn a_policy_change_replaces_only_its_piece() {
    let policy = ClusterPolicy {
        circuit_breaker: CircuitBreaker {
            max_requests: 1,
            max_pending: 0,
        },
        ..Default::default()
    };
    let mut s = state(&policy);
    let cla = assignment(&[(1, 1), (2, 1)]);
    let first = s.update(&cluster(policy.clone()), Some(&cla));
    let _permit = first.admit().unwrap();

    let budget = ClusterPolicy {
        retry_budget: RetryBudget {
            ratio: 0.5,
            ..Default::default()
        },
        ..policy.clone()
    };
    let second = s.update(&cluster(budget.clone()), Some(&cla));
    assert!(!std::ptr::eq(first.retry_budget(), second.retry_budget()));
    assert!(second.admit().is_err(), "the breaker stayed");
    assert!(Arc::ptr_eq(&first.endpoints()[0], &second.endpoints()[0]));

    let breaker = ClusterPolicy {
        circuit_breaker: CircuitBreaker {
            max_requests: 2,
            max_pending: 0,
        },
        ..budget
    };
    let third = s.update(&cluster(breaker), Some(&cla));
    assert!(std::ptr::eq(second.retry_budget(), third.retry_budget()));
    assert!(
        matches!(third.admit(), Ok(Admission::Now(_))),
        "a new breaker"
    );
}

#[tokio::test]
async fn an_outlier_policy_change_starts_the_endpoints_afresh() {
    let mut s = state(&ClusterPolicy::default());
    let cla = assignment(&[(1, 1)]);
    let first = s.update(&cluster(ClusterPolicy::default()), Some(&cla));
    let detecting = ClusterPolicy {
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            consecutive_failures: Some(5),
            success_rate: None,
            failure_percentage: None,
        }),
        ..Default::default()
    };
    let second = s.update(&cluster(detecting), Some(&cla));
    assert!(!Arc::ptr_eq(&first.endpoints()[0], &second.endpoints()[0]));
    assert!(second.detector.is_some() && first.detector.is_none());
}

#[test]
fn the_ring_is_rebuilt_only_when_the_endpoints_change() {
    let policy = ClusterPolicy {
        lb: RING,
        ..Default::default()
    };
    let ring = |b: &Balancer| match &b.selector {
        Selector::RingHash(ring) => Arc::clone(ring),
        other => panic!("{other:?}"),
    };
    let mut s = state(&policy);
    let c = cluster(policy);
    let first = ring(&s.update(&c, Some(&assignment(&[(1, 1), (2, 1)]))));
    let same = ring(&s.update(&c, Some(&assignment(&[(1, 1), (2, 1)]))));
    let reweighted = ring(&s.update(&c, Some(&assignment(&[(1, 1), (2, 2)]))));
    assert!(Arc::ptr_eq(&first, &same));
    assert!(!Arc::ptr_eq(&same, &reweighted));
}
