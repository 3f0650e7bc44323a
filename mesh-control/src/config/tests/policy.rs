//! Valid timeouts, retries, faults and backend policies, and the routes and Services they end
//! up on.

use std::time::Duration;

use mesh_core::model::{
    AbortStatus, CircuitBreaker, ClusterPolicy, FailurePercentageEjection, FaultAbort, FaultDelay,
    FaultInjection, HeaderMatch, LbPolicy, MAX_RING_SIZE_LIMIT, OutlierDetection, RetryBackoff,
    RetryBudget, RetryOn, RetryPolicy, RoutePolicy, Share, StringMatch, SuccessRateEjection,
};
use tonic::Code;

use super::{load, port};
use crate::config::{MeshConfig, ServiceRef, embedded_default};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn share(percent: u32) -> Share {
    Share::from_per_million(percent * 10_000).unwrap()
}

/// The policy of the route of `demo/<service>` port `port` named `name`.
fn route_policy<'a>(
    config: &'a MeshConfig,
    service: &str,
    port_number: u16,
    name: &str,
) -> &'a RoutePolicy {
    let routes = &port(config, service, port_number).routes;
    let route = routes.iter().find(|r| r.name == name);
    &route
        .unwrap_or_else(|| panic!("no route {name} in {routes:#?}"))
        .policy
}

fn cluster_policy<'a>(config: &'a MeshConfig, service: &str) -> &'a ClusterPolicy {
    &config.services[&ServiceRef::new("demo", service)].policy
}

const HTTP_ROUTE: &str = "\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r, namespace: demo}
spec:
  parentRefs: [{group: '', kind: Service, name: web, port: 80}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: v1}]
    timeouts: {request: 2s, backendRequest: 500ms}
    retry: {codes: [502, 503], attempts: 2, backoff: 50ms}
  - matches: [{path: {type: Exact, value: /b}}]
    backendRefs: [{name: v2}]
";

const GRPC_ROUTE: &str = "\
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: demo}
spec:
  parentRefs: [{group: '', kind: Service, name: web, port: 9090}]
  rules:
  - matches: [{method: {service: a.A}}]
    backendRefs: [{name: v1}]
  - backendRefs: [{name: v2}]
";

#[test]
fn http_route_rules_set_timeouts_and_retries_gateway_api_style() {
    let config = load(HTTP_ROUTE).unwrap();
    let expected = RoutePolicy {
        timeout: Some(ms(2000)),
        retry: Some(RetryPolicy {
            max_attempts: 3, // 2 retries after the first
            retry_on: RetryOn {
                grpc_codes: vec![],
                http_statuses: vec![502, 503],
                connect_failure: true,
            },
            backoff: RetryBackoff {
                base: ms(50),
                max: ms(500),
            },
            per_try_timeout: Some(ms(500)),
        }),
        ..RoutePolicy::default()
    };
    // A PathPrefix is two model routes; both carry the rule's policy.
    let routes = &port(&config, "web", 80).routes;
    let prefixed: Vec<_> = routes
        .iter()
        .filter(|r| r.name == "demo/r/rule0/match0")
        .collect();
    assert_eq!(prefixed.len(), 2);
    assert!(
        prefixed.iter().all(|r| r.policy == expected),
        "{prefixed:#?}"
    );
    // The other rule and the catch-all set nothing.
    assert_eq!(
        route_policy(&config, "web", 80, "demo/r/rule1/match0"),
        &RoutePolicy::default()
    );
    assert_eq!(
        route_policy(&config, "web", 80, "demo/web:80/default"),
        &RoutePolicy::default()
    );
}

#[test]
fn a_route_policy_applies_to_every_rule_of_its_targets() {
    let policy = "\
---
apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs:
  - {group: gateway.networking.k8s.io, kind: GRPCRoute, name: g}
  - {kind: HTTPRoute, name: r}
  retry:
    attempts: 3
    grpcCodes: [UNAVAILABLE, RESOURCE_EXHAUSTED]
    codes: [503]
    backoff: {base: 10ms}
  fault:
    delay: {fixed: 100ms, percent: 0.5}
    abort: {grpcStatus: UNAVAILABLE, percent: 20}
    headers: [{name: X-Fault, value: 'on'}]
    maxActive: 100
";
    let http_route = HTTP_ROUTE.replace("    timeouts: {request: 2s, backendRequest: 500ms}\n    retry: {codes: [502, 503], attempts: 2, backoff: 50ms}\n", "    timeouts: {request: 2s}\n");
    let config = load(&format!("{http_route}{GRPC_ROUTE}{policy}")).unwrap();
    let retry = RetryPolicy {
        max_attempts: 4,
        retry_on: RetryOn {
            grpc_codes: vec![Code::Unavailable, Code::ResourceExhausted],
            http_statuses: vec![503],
            connect_failure: true,
        },
        backoff: RetryBackoff {
            base: ms(10),
            max: ms(100),
        },
        per_try_timeout: None,
    };
    let fault = FaultInjection {
        delay: Some(FaultDelay {
            delay: ms(100),
            share: Share::from_per_million(5_000).unwrap(),
        }),
        abort: Some(FaultAbort {
            status: AbortStatus::Grpc(Code::Unavailable),
            share: share(20),
        }),
        headers: vec![HeaderMatch {
            name: "x-fault".into(),
            matcher: StringMatch::Exact("on".into()),
            invert: false,
        }],
        max_active: Some(100),
    };
    let expected = RoutePolicy {
        retry: Some(retry),
        fault: Some(fault),
        ..RoutePolicy::default()
    };
    for name in ["demo/g/rule0/match0", "demo/g/rule1/match0"] {
        assert_eq!(
            route_policy(&config, "web", 9090, name),
            &expected,
            "{name}"
        );
    }
    // The HTTPRoute's rules get it too, the first with its own timeout besides.
    let with_timeout = RoutePolicy {
        timeout: Some(ms(2000)),
        ..expected.clone()
    };
    assert_eq!(
        route_policy(&config, "web", 80, "demo/r/rule0/match0"),
        &with_timeout
    );
    assert_eq!(
        route_policy(&config, "web", 80, "demo/r/rule1/match0"),
        &expected
    );
    // Routes it does not target do not.
    assert_eq!(
        route_policy(&config, "web", 80, "demo/web:80/default"),
        &RoutePolicy::default()
    );
    assert_eq!(
        route_policy(&config, "v1", 8080, "demo/v1:8080/default"),
        &RoutePolicy::default()
    );
}

#[test]
fn defaults_fill_what_a_policy_leaves_out() {
    let policy = "\
---
apiVersion: mesh.dev/v1alpha1
kind: RoutePolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs: [{kind: GRPCRoute, name: g}]
  retry: {}
  fault: {abort: {httpStatus: 503}}
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {name: b, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: v1}]
  outlierDetection: {baseEjectionTime: 600s, failurePercentage: {}}
";
    let config = load(&format!(
        "{}{policy}",
        GRPC_ROUTE.trim_start_matches("---\n")
    ))
    .unwrap();
    let route = route_policy(&config, "web", 9090, "demo/g/rule1/match0");
    let retry = route.retry.as_ref().unwrap();
    assert_eq!(retry.max_attempts, 2);
    assert_eq!(
        retry.retry_on,
        RetryOn {
            connect_failure: true,
            ..RetryOn::default()
        }
    );
    assert_eq!(retry.backoff, RetryBackoff::default());
    let abort = route.fault.as_ref().unwrap().abort.unwrap();
    assert_eq!(
        abort,
        FaultAbort {
            status: AbortStatus::Http(503),
            share: share(100)
        }
    );
    let expected = ClusterPolicy {
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(600),
            // Left out, the longest ejection grows to the first one's length.
            max_ejection_time: Duration::from_secs(600),
            max_ejection_percent: 10,
            consecutive_failures: None,
            success_rate: None,
            failure_percentage: Some(FailurePercentageEjection {
                threshold: 85,
                enforcing_percent: 100,
                minimum_hosts: 5,
                request_volume: 50,
            }),
        }),
        ..ClusterPolicy::default()
    };
    assert_eq!(cluster_policy(&config, "v1"), &expected);
    assert_eq!(cluster_policy(&config, "v2"), &ClusterPolicy::default());
}

#[test]
fn a_backend_policy_sets_the_cluster_policy_of_its_services() {
    let policy = "\
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {name: b, namespace: demo}
spec:
  targetRefs: [{group: '', kind: Service, name: web}, {kind: Service, name: v2}]
  loadBalancer: {type: P2CLeastRequest}
  circuitBreaker: {maxRequests: 100, maxPendingRequests: 0}
  retryBudget: {ratio: 0.5, minRetriesPerSecond: 3, ttl: 1m}
  outlierDetection:
    interval: 1s
    baseEjectionTime: 10s
    maxEjectionTime: 1m
    maxEjectionPercent: 50
    consecutiveFailures: 5
    successRate: {stdevFactor: 1.5, enforcingPercent: 90, minimumHosts: 3, requestVolume: 20}
    failurePercentage: {threshold: 60, enforcingPercent: 80, minimumHosts: 2, requestVolume: 10}
";
    let config = load(policy).unwrap();
    let expected = ClusterPolicy {
        lb: LbPolicy::P2cLeastRequest,
        circuit_breaker: CircuitBreaker {
            max_requests: 100,
            max_pending: 0,
        },
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(1),
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(60),
            max_ejection_percent: 50,
            consecutive_failures: Some(5),
            success_rate: Some(SuccessRateEjection {
                stdev_factor: 1.5,
                enforcing_percent: 90,
                minimum_hosts: 3,
                request_volume: 20,
            }),
            failure_percentage: Some(FailurePercentageEjection {
                threshold: 60,
                enforcing_percent: 80,
                minimum_hosts: 2,
                request_volume: 10,
            }),
        }),
        retry_budget: RetryBudget {
            ratio: 0.5,
            min_per_second: 3,
            ttl: Duration::from_secs(60),
        },
    };
    assert_eq!(cluster_policy(&config, "web"), &expected);
    assert_eq!(cluster_policy(&config, "v2"), &expected);
    assert_eq!(cluster_policy(&config, "v1"), &ClusterPolicy::default());
}

#[test]
fn ring_sizes_left_out_take_the_xds_defaults() {
    let ring = |sizes: &str| {
        let yaml = format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: BackendPolicy\n\
             metadata: {{name: b, namespace: demo}}\n\
             spec:\n  targetRefs: [{{kind: Service, name: v1}}]\n  \
             loadBalancer: {{type: RingHash, ringHash: {{header: x-user{sizes}}}}}\n"
        );
        cluster_policy(&load(&yaml).unwrap(), "v1").lb
    };
    let sizes = |min_ring_size, max_ring_size| LbPolicy::RingHash {
        min_ring_size,
        max_ring_size,
    };
    assert_eq!(ring(""), sizes(1024, MAX_RING_SIZE_LIMIT));
    // A small maximum brings the minimum left out down with it.
    assert_eq!(ring(", maxRingSize: 512"), sizes(512, 512));
    assert_eq!(ring(", minRingSize: 8"), sizes(8, MAX_RING_SIZE_LIMIT));
}

#[test]
fn routes_to_a_ring_hash_service_hash_its_header() {
    let policy = "\
---
apiVersion: mesh.dev/v1alpha1
kind: BackendPolicy
metadata: {name: b, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: v1}]
  loadBalancer: {type: RingHash, ringHash: {header: X-User-Id, maxRingSize: 2048}}
";
    let config = load(&format!("{HTTP_ROUTE}{policy}")).unwrap();
    assert_eq!(
        cluster_policy(&config, "v1").lb,
        LbPolicy::RingHash {
            min_ring_size: 1024,
            max_ring_size: 2048
        }
    );
    let header = |service, port, name| {
        route_policy(&config, service, port, name)
            .hash_header
            .clone()
    };
    let hashed = Some("x-user-id".to_string());
    // The rule to v1, and v1's own catch-all.
    assert_eq!(header("web", 80, "demo/r/rule0/match0"), hashed);
    assert_eq!(header("v1", 8080, "demo/v1:8080/default"), hashed);
    // Routes to other Services do not hash.
    assert_eq!(header("web", 80, "demo/r/rule1/match0"), None);
    assert_eq!(header("web", 80, "demo/web:80/default"), None);
    // The rule keeps its own timeouts and retry.
    assert!(
        route_policy(&config, "web", 80, "demo/r/rule0/match0")
            .retry
            .is_some()
    );
}

#[test]
fn the_embedded_default_shows_both_policies() {
    let config = embedded_default();
    let calls = RoutePolicy {
        timeout: Some(ms(2000)),
        retry: Some(RetryPolicy {
            max_attempts: 4,
            retry_on: RetryOn {
                grpc_codes: vec![Code::Unavailable],
                http_statuses: vec![503],
                connect_failure: true,
            },
            backoff: RetryBackoff {
                base: ms(5),
                max: ms(50),
            },
            per_try_timeout: Some(ms(500)),
        }),
        ..RoutePolicy::default()
    };
    let routes = &port(&config, "serviceb", 50051).routes;
    assert!(!routes.is_empty());
    for route in routes {
        assert_eq!(route.policy, calls, "{}", route.name);
    }
    let backends = ClusterPolicy {
        outlier_detection: Some(OutlierDetection {
            interval: Duration::from_secs(1),
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
            consecutive_failures: Some(5),
            success_rate: None,
            failure_percentage: None,
        }),
        retry_budget: RetryBudget {
            ratio: 0.2,
            min_per_second: 10,
            ttl: Duration::from_secs(10),
        },
        ..ClusterPolicy::default()
    };
    assert_eq!(cluster_policy(&config, "serviceb-v1"), &backends);
    assert_eq!(cluster_policy(&config, "serviceb-v2"), &backends);
    assert_eq!(
        cluster_policy(&config, "serviceb"),
        &ClusterPolicy::default()
    );
}
