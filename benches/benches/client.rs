//! The client stack's per-request decisions, without the connection: route matching over a
//! table of 20 routes, the weighted cluster choice, P2C endpoint picks, the retry decision, and
//! the stack's whole path short of the connection (route, budget, breaker, pick, in-flight).
//!
//! mesh-client's connection layer is a pooled hyper client over TCP (or rustls over TCP) and
//! takes no custom connector, so a call through the whole stack including HTTP/2 is measured
//! over loopback instead, by `mtls.rs` (`grpc_call_through_the_mesh/plaintext`).

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use mesh_client::bench::{Cluster, RetryDecision, Routes, Weighted};
use mesh_core::model::{
    self, Endpoint, HeaderMatch, HealthStatus, PathMatch, Pattern, RetryBackoff, RetryOn,
    RetryPolicy, Route, RouteAction, RouteMatch, RoutePolicy, StringMatch, UpstreamProtocol,
    VirtualHost, WeightedCluster,
};

const LISTENER: &str = "serviceb.demo:50051";

fn cluster(name: &str, endpoints: u32) -> (model::Cluster, Cluster) {
    let cluster = model::Cluster {
        name: name.into(),
        eds_service_name: name.into(),
        policy: Default::default(),
        protocol: UpstreamProtocol::Http2,
        tls: None,
    };
    let assignment = model::ClusterLoadAssignment {
        cluster_name: name.into(),
        endpoints: (0..endpoints)
            .map(|i| Endpoint {
                address: SocketAddr::from((Ipv4Addr::from(0x0a00_0000 + i), 50051)),
                weight: 1,
                health: HealthStatus::Healthy,
            })
            .collect(),
    };
    let balancer = Cluster::new(&cluster, &assignment);
    (cluster, balancer)
}

fn header(name: &str, matcher: StringMatch) -> HeaderMatch {
    HeaderMatch {
        name: name.into(),
        matcher,
        invert: false,
    }
}

/// Route `i` of 20: prefix, exact and regex paths in turn, most with a header condition; the
/// last takes `POST /demo.ServiceB/Get` with `x-tenant: gold`, split 80/20 over v1 and v2;
/// the others send to `other`.
fn route(i: usize, policy: &RoutePolicy) -> Route {
    let (path, headers, split): (_, _, &[(&str, u32)]) = match i {
        19 => (
            PathMatch::Prefix("/demo.ServiceB/".into()),
            vec![
                header(":method", StringMatch::Exact("POST".into())),
                header("x-tenant", StringMatch::Exact("gold".into())),
            ],
            &[("v1", 80), ("v2", 20)],
        ),
        _ if i.is_multiple_of(3) => (
            PathMatch::Prefix(format!("/demo.Service{i}/")),
            vec![],
            &[("other", 1)],
        ),
        _ if i % 3 == 1 => (
            PathMatch::Exact(format!("/demo.ServiceB/Method{i}")),
            vec![header("x-tenant", StringMatch::Exact(format!("t{i}")))],
            &[("other", 1)],
        ),
        _ => (
            PathMatch::Regex(Pattern::new(&format!("/demo\\.ServiceB/Get{i}[a-z]*")).unwrap()),
            vec![header("x-canary", StringMatch::Present)],
            &[("other", 1)],
        ),
    };
    let split = split.iter().map(|&(cluster, weight)| WeightedCluster {
        cluster: cluster.into(),
        weight,
    });
    Route {
        name: format!("route-{i}"),
        matcher: RouteMatch {
            path,
            case_sensitive: true,
            headers,
        },
        action: RouteAction::Forward(split.collect()),
        policy: policy.clone(),
    }
}

fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        retry_on: RetryOn {
            grpc_codes: vec![tonic::Code::Unavailable],
            http_statuses: vec![503],
            connect_failure: true,
        },
        backoff: RetryBackoff {
            base: Duration::from_millis(25),
            max: Duration::from_millis(250),
        },
        per_try_timeout: None,
    }
}

fn routes(policy: &RoutePolicy) -> Routes {
    let vhost = VirtualHost {
        name: "serviceb".into(),
        domains: vec![LISTENER.into()],
        routes: (0..20).map(|i| route(i, policy)).collect(),
    };
    let clusters = [cluster("v1", 3), cluster("v2", 3), cluster("other", 3)];
    Routes::new(LISTENER, &vhost, &clusters)
}

/// A request that only the last of the 20 routes matches.
fn request() -> Request<()> {
    Request::post("http://serviceb.demo:50051/demo.ServiceB/Get")
        .header("x-tenant", "gold")
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

fn route_match(c: &mut Criterion) {
    let table = routes(&RoutePolicy::default());
    let request = request();
    let chosen = table.route(&request).unwrap();
    assert!(
        ["v1", "v2"].contains(&&*chosen),
        "the last route was not taken"
    );
    c.bench_function("route_match/20_routes_last_matches", |b| {
        b.iter(|| table.route(black_box(&request)).unwrap())
    });
}

fn weighted_choice(c: &mut Criterion) {
    let mut group = c.benchmark_group("weighted_choice");
    for weights in [&[80, 20][..], &[10, 20, 30, 40, 50][..]] {
        let choice = Weighted::new(weights).unwrap();
        group.bench_with_input(
            BenchmarkId::from_parameter(weights.len()),
            &choice,
            |b, choice| b.iter(|| choice.pick()),
        );
    }
    group.finish();
}

fn p2c_pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("p2c_pick");
    for n in [3, 100] {
        let (_, balancer) = cluster("pick", n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &balancer, |b, balancer| {
            b.iter(|| balancer.pick().unwrap())
        });
    }
    group.finish();
}

fn retry_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_decision");
    // A ratio of 1 refills the budget with every request, so each iteration is a retry that is
    // allowed (with the default 0.2 the budget runs dry after ~125 iterations and the benchmark
    // would time refusals).
    let budget = mesh_core::model::RetryBudget {
        ratio: 1.0,
        ..Default::default()
    };
    let decision = RetryDecision::new(retry_policy(), &budget);
    let mut unavailable = HeaderMap::new();
    unavailable.insert("grpc-status", HeaderValue::from_static("14"));
    assert!(decision.decide(StatusCode::OK, &unavailable, 1).is_some());
    group.bench_function("unavailable_retried", |b| {
        b.iter(|| decision.decide(StatusCode::OK, black_box(&unavailable), 1))
    });
    let ok = HeaderMap::new();
    assert!(decision.decide(StatusCode::OK, &ok, 1).is_none());
    group.bench_function("ok_stands", |b| {
        b.iter(|| decision.decide(StatusCode::OK, black_box(&ok), 1))
    });
    group.finish();
}

fn stack_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("stack_without_connection");
    let request = request();
    let with_retries = RoutePolicy {
        retry: Some(retry_policy()),
        ..Default::default()
    };
    for (name, policy) in [
        ("no_policy", RoutePolicy::default()),
        ("retry_policy", with_retries),
    ] {
        let table = routes(&policy);
        assert!(table.dispatch(&request).unwrap().is_some());
        group.bench_function(name, |b| {
            b.iter(|| table.dispatch(black_box(&request)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    route_match,
    weighted_choice,
    p2c_pick,
    retry_decision,
    stack_path
);
criterion_main!(benches);
