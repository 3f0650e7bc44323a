//! Encode then decode gives back the model: what mesh-control sends is what our client reads.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::model::{
    self, AbortStatus, CircuitBreaker, ClientListener, ClusterLoadAssignment, ClusterPolicy,
    Endpoint, FailurePercentageEjection, FaultAbort, FaultDelay, FaultInjection, HeaderMatch,
    HealthStatus, InboundTls, LbPolicy, OutlierDetection, PathMatch, RetryBackoff, RetryBudget,
    RetryOn, RetryPolicy, Route, RouteAction, RouteConfig, RouteMatch, RoutePolicy, RouteSource,
    ServerListener, Share, StringMatch, SuccessRateEjection, UpstreamProtocol, UpstreamTls,
    VirtualHost, WeightedCluster,
};
use crate::xds::{decode, type_url};

fn route(path: PathMatch, headers: Vec<HeaderMatch>, action: RouteAction) -> Route {
    Route {
        policy: Default::default(),
        name: "r".into(),
        matcher: RouteMatch {
            path,
            case_sensitive: true,
            headers,
        },
        action,
    }
}

fn header(name: &str, matcher: StringMatch, invert: bool) -> HeaderMatch {
    HeaderMatch {
        name: name.into(),
        matcher,
        invert,
    }
}

fn weighted(list: &[(&str, u32)]) -> RouteAction {
    RouteAction::Forward(
        list.iter()
            .map(|(cluster, weight)| WeightedCluster {
                cluster: cluster.to_string(),
                weight: *weight,
            })
            .collect(),
    )
}

fn rich_route_config() -> RouteConfig {
    let regex = model::Pattern::new("/pkg\\.Svc/Get.*").unwrap();
    RouteConfig {
        name: "rc".into(),
        virtual_hosts: vec![VirtualHost {
            name: "vh".into(),
            domains: vec!["serviceb.demo:50051".into(), "serviceb".into()],
            routes: vec![
                route(
                    PathMatch::Regex(regex.clone()),
                    vec![
                        header(":method", StringMatch::Exact("POST".into()), false),
                        header("x-a", StringMatch::Prefix("p".into()), false),
                        header("x-b", StringMatch::Suffix("s".into()), true),
                        header("x-c", StringMatch::Contains("c".into()), false),
                        header("x-d", StringMatch::Regex(regex), false),
                        header("x-e", StringMatch::Present, false),
                    ],
                    weighted(&[("v1", 90), ("v2", 10)]),
                ),
                Route {
                    matcher: RouteMatch {
                        path: PathMatch::Exact("/pkg.Svc/Put".into()),
                        case_sensitive: false,
                        headers: vec![],
                    },
                    ..route(
                        PathMatch::Prefix(String::new()),
                        vec![],
                        weighted(&[("v1", 1)]),
                    )
                },
                route(
                    PathMatch::Prefix("/".into()),
                    vec![],
                    weighted(&[("v1", 1)]),
                ),
            ],
        }],
    }
}

#[test]
fn route_config_round_trips() {
    let model = rich_route_config();
    assert_eq!(decode::route_config(&route_config(&model)).unwrap(), model);
}

fn share(per_million: u32) -> Share {
    Share::from_per_million(per_million).unwrap()
}

/// Route policies with every field set, each way.
fn route_policies() -> Vec<RoutePolicy> {
    let retry = RetryPolicy {
        max_attempts: 4,
        retry_on: RetryOn {
            grpc_codes: vec![
                tonic::Code::Unavailable,
                tonic::Code::ResourceExhausted,
                tonic::Code::Cancelled,
                tonic::Code::DeadlineExceeded,
                tonic::Code::Internal,
            ],
            http_statuses: vec![503, 502],
            connect_failure: true,
        },
        backoff: RetryBackoff {
            base: Duration::from_millis(50),
            max: Duration::from_millis(200),
        },
        per_try_timeout: Some(Duration::from_millis(300)),
    };
    let fault = FaultInjection {
        delay: Some(FaultDelay {
            delay: Duration::from_millis(100),
            share: share(5_000),
        }),
        abort: Some(FaultAbort {
            status: AbortStatus::Grpc(tonic::Code::Unavailable),
            share: share(200_000),
        }),
        headers: vec![header("x-fault", StringMatch::Exact("on".into()), false)],
        max_active: Some(100),
    };
    vec![
        RoutePolicy {
            timeout: Some(Duration::from_secs(2)),
            retry: Some(retry.clone()),
            fault: Some(fault),
            hash_header: Some("x-user-id".into()),
        },
        RoutePolicy {
            timeout: Some(Duration::from_millis(1500)),
            retry: Some(RetryPolicy {
                max_attempts: 2,
                retry_on: RetryOn {
                    connect_failure: true,
                    ..Default::default()
                },
                per_try_timeout: None,
                ..retry
            }),
            fault: Some(FaultInjection {
                abort: Some(FaultAbort {
                    status: AbortStatus::Http(503),
                    share: share(7),
                }),
                ..Default::default()
            }),
            hash_header: None,
        },
        RoutePolicy {
            fault: Some(FaultInjection {
                delay: Some(FaultDelay {
                    delay: Duration::from_secs(1),
                    share: share(1_000_000),
                }),
                ..Default::default()
            }),
            ..Default::default()
        },
    ]
}

#[test]
fn route_policies_round_trip() {
    for policy in route_policies() {
        let mut model = rich_route_config();
        model.virtual_hosts[0].routes[0].policy = policy;
        assert_eq!(decode::route_config(&route_config(&model)).unwrap(), model);
    }
}

#[test]
fn route_policies_round_trip_inline_in_a_client_listener() {
    let mut routes = rich_route_config();
    routes.virtual_hosts[0].routes[2].policy = route_policies().remove(0);
    let client = model::Listener::Client(ClientListener {
        name: "serviceb.demo:50051".into(),
        routes: RouteSource::Inline(Arc::new(routes)),
    });
    assert_eq!(decode::listener(&listener(&client)).unwrap(), client);
}

#[test]
fn listeners_round_trip() {
    let client = model::Listener::Client(ClientListener {
        name: "serviceb.demo:50051".into(),
        routes: RouteSource::Rds("rc".into()),
    });
    assert_eq!(decode::listener(&listener(&client)).unwrap(), client);

    let inbound = RouteConfig {
        name: "inbound".into(),
        virtual_hosts: vec![VirtualHost {
            name: "inbound".into(),
            domains: vec!["*".into()],
            routes: vec![route(
                PathMatch::Prefix(String::new()),
                vec![],
                RouteAction::NonForwarding,
            )],
        }],
    };
    let inbound = Arc::new(inbound);
    for tls in [
        InboundTls::Plaintext,
        InboundTls::Permissive,
        InboundTls::Strict,
    ] {
        let server = model::Listener::Server(ServerListener {
            authorization: None,
            rate_limit: None,
            name: format!("{}127.0.0.1:50051", type_url::SERVER_LISTENER_PREFIX),
            address: "127.0.0.1:50051".parse().unwrap(),
            routes: RouteSource::Inline(Arc::clone(&inbound)),
            tls,
        });
        assert_eq!(decode::listener(&listener(&server)).unwrap(), server);
    }
}

#[test]
fn clusters_round_trip() {
    let peer_ids = vec![
        StringMatch::Exact("spiffe://cluster.local/ns/demo/sa/serviceb".into()),
        StringMatch::Prefix("spiffe://cluster.local/ns/demo/sa/".into()),
        StringMatch::Regex(model::Pattern::new("spiffe://[a-z.]+/ns/demo/.*").unwrap()),
    ];
    let tls_options = [
        None,
        Some(UpstreamTls::default()),
        Some(UpstreamTls { peer_ids }),
    ];
    for protocol in [UpstreamProtocol::Http1, UpstreamProtocol::Http2] {
        for tls in tls_options.clone() {
            let model = model::Cluster {
                name: "c".into(),
                eds_service_name: "c-eds".into(),
                policy: Default::default(),
                protocol,
                tls,
            };
            assert_eq!(decode::cluster(&cluster(&model)).unwrap(), model);
        }
    }
}

/// The xDS defaults of success-rate ejection.
const SUCCESS_RATE: SuccessRateEjection = SuccessRateEjection {
    stdev_factor: 1.9,
    enforcing_percent: 100,
    minimum_hosts: 5,
    request_volume: 100,
};

/// Cluster policies with every balancer and each outlier algorithm on and off.
fn cluster_policies() -> Vec<ClusterPolicy> {
    let outlier = OutlierDetection {
        interval: Duration::from_secs(1),
        base_ejection_time: Duration::from_secs(30),
        max_ejection_time: Duration::from_secs(300),
        max_ejection_percent: 34,
        consecutive_failures: Some(5),
        success_rate: Some(SUCCESS_RATE),
        failure_percentage: Some(FailurePercentageEjection {
            threshold: 85,
            enforcing_percent: 100,
            minimum_hosts: 5,
            request_volume: 50,
        }),
    };
    let budget = RetryBudget {
        ratio: 0.25,
        min_per_second: 3,
        ttl: Duration::from_millis(2500),
    };
    vec![
        ClusterPolicy::default(),
        // The edges of what mesh-control accepts: enforcing percentages from 1, a stdev factor
        // in thousandths from 0.001.
        ClusterPolicy {
            outlier_detection: Some(OutlierDetection {
                success_rate: Some(SuccessRateEjection {
                    stdev_factor: 0.001,
                    enforcing_percent: 1,
                    minimum_hosts: 1,
                    request_volume: 1,
                }),
                failure_percentage: Some(FailurePercentageEjection {
                    threshold: 0,
                    enforcing_percent: 1,
                    minimum_hosts: 1,
                    request_volume: 1,
                }),
                ..outlier.clone()
            }),
            ..Default::default()
        },
        ClusterPolicy {
            outlier_detection: Some(OutlierDetection {
                success_rate: Some(SuccessRateEjection {
                    stdev_factor: 1.234,
                    ..SUCCESS_RATE
                }),
                ..outlier.clone()
            }),
            ..Default::default()
        },
        ClusterPolicy {
            lb: LbPolicy::P2cLeastRequest,
            circuit_breaker: CircuitBreaker {
                max_requests: 100,
                max_pending: 10,
            },
            outlier_detection: Some(outlier.clone()),
            retry_budget: budget,
        },
        ClusterPolicy {
            lb: LbPolicy::RoundRobin,
            outlier_detection: Some(OutlierDetection {
                consecutive_failures: None,
                success_rate: None,
                failure_percentage: None,
                ..outlier.clone()
            }),
            ..Default::default()
        },
        ClusterPolicy {
            lb: LbPolicy::RingHash {
                min_ring_size: 1024,
                max_ring_size: 4096,
            },
            outlier_detection: Some(OutlierDetection {
                success_rate: None,
                ..outlier
            }),
            circuit_breaker: CircuitBreaker {
                max_requests: 0,
                max_pending: 0,
            },
            retry_budget: budget,
        },
    ]
}

#[test]
fn cluster_policies_round_trip() {
    for policy in cluster_policies() {
        let model = model::Cluster {
            name: "c".into(),
            eds_service_name: "c-eds".into(),
            policy,
            protocol: UpstreamProtocol::Http2,
            tls: None,
        };
        assert_eq!(decode::cluster(&cluster(&model)).unwrap(), model);
    }
}

/// The outlier settings mesh-control refuses are those that xDS cannot carry: an enforcing
/// percentage of 0 says "off", and the stdev factor travels in thousandths.
#[test]
fn outlier_settings_xds_cannot_carry_do_not_round_trip() {
    let decoded = |success_rate| {
        let model = model::Cluster {
            name: "c".into(),
            eds_service_name: "c-eds".into(),
            policy: ClusterPolicy {
                outlier_detection: Some(OutlierDetection {
                    interval: Duration::from_secs(1),
                    base_ejection_time: Duration::from_secs(30),
                    max_ejection_time: Duration::from_secs(300),
                    max_ejection_percent: 10,
                    consecutive_failures: None,
                    success_rate: Some(success_rate),
                    failure_percentage: None,
                }),
                ..Default::default()
            },
            protocol: UpstreamProtocol::Http2,
            tls: None,
        };
        let policy = decode::cluster(&cluster(&model)).unwrap().policy;
        policy.outlier_detection.unwrap().success_rate
    };
    let off = SuccessRateEjection {
        enforcing_percent: 0,
        ..SUCCESS_RATE
    };
    assert_eq!(decoded(off), None);
    let off_grid = SuccessRateEjection {
        stdev_factor: 1.2345,
        ..SUCCESS_RATE
    };
    assert_ne!(decoded(off_grid), Some(off_grid));
}

/// Retry and fault set on a virtual host are the defaults of its routes; a route's own replace
/// them, and the decoded model encodes back to the same routes.
#[test]
fn virtual_host_defaults_round_trip() {
    let policies = route_policies();
    let host_retry = policies[0].retry.clone().unwrap();
    let host_fault = policies[0].fault.clone().unwrap();
    let own_retry = policies[1].retry.clone().unwrap();
    let own_fault = policies[1].fault.clone().unwrap();

    let mut model = rich_route_config();
    model.virtual_hosts[0].routes[1].policy = RoutePolicy {
        retry: Some(own_retry.clone()),
        fault: Some(own_fault.clone()),
        ..Default::default()
    };
    let mut proto = route_config(&model);
    let host = &mut proto.virtual_hosts[0];
    host.retry_policy = Some(route_policy::retry_policy(&host_retry));
    host.typed_per_filter_config = [(
        fault::FAULT_FILTER.to_string(),
        fault::per_route_config(&host_fault),
    )]
    .into();

    let decoded = decode::route_config(&proto).unwrap();
    let routes = &decoded.virtual_hosts[0].routes;
    for i in [0, 2] {
        assert_eq!(
            routes[i].policy.retry.as_ref(),
            Some(&host_retry),
            "route {i}"
        );
        assert_eq!(
            routes[i].policy.fault.as_ref(),
            Some(&host_fault),
            "route {i}"
        );
    }
    assert_eq!(routes[1].policy.retry.as_ref(), Some(&own_retry));
    assert_eq!(routes[1].policy.fault.as_ref(), Some(&own_fault));
    assert_eq!(
        decode::route_config(&route_config(&decoded)).unwrap(),
        decoded
    );
}

#[test]
fn endpoints_round_trip() {
    let health = [
        HealthStatus::Unknown,
        HealthStatus::Healthy,
        HealthStatus::Unhealthy,
        HealthStatus::Draining,
    ];
    let model = ClusterLoadAssignment {
        cluster_name: "c".into(),
        endpoints: health
            .into_iter()
            .enumerate()
            .map(|(i, health)| Endpoint {
                address: format!("10.0.0.{}:80", i + 1).parse().unwrap(),
                weight: u32::try_from(i).unwrap() + 1,
                health,
            })
            .collect(),
    };
    let decoded = decode::cluster_load_assignment(&cluster_load_assignment(&model)).unwrap();
    assert_eq!(decoded, model);
}
