//! Encode then decode gives back the model: what mesh-control sends is what our client reads.

use std::sync::Arc;

use super::*;
use crate::model::{
    self, ClientListener, ClusterLoadAssignment, Endpoint, HeaderMatch, HealthStatus, InboundTls,
    PathMatch, Route, RouteAction, RouteConfig, RouteMatch, RouteSource, ServerListener,
    StringMatch, UpstreamProtocol, UpstreamTls, VirtualHost, WeightedCluster,
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
