use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, HeaderMatcher, NonForwardingAction, QueryParameterMatcher,
    RouteAction as ProtoAction, WeightedCluster as ProtoWeighted,
    header_matcher::HeaderMatchSpecifier, weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatcher;
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::*;
use crate::model::{HeaderMatch, Pattern, StringMatch};

fn forward(cluster: &str) -> route::Action {
    route::Action::Route(ProtoAction {
        cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.into())),
        ..Default::default()
    })
}

fn prefix_route(prefix: &str, action: route::Action) -> Route {
    Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix(prefix.into())),
            ..Default::default()
        }),
        action: Some(action),
        ..Default::default()
    }
}

fn config(routes: Vec<Route>) -> RouteConfiguration {
    RouteConfiguration {
        name: "rc".into(),
        virtual_hosts: vec![VirtualHost {
            name: "vh".into(),
            domains: vec!["*".into()],
            routes,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn error_of(routes: Vec<Route>) -> DecodeError {
    route_config(&config(routes)).unwrap_err()
}

#[test]
fn decodes_a_route_table() {
    let regex_route = Route {
        name: "r2".into(),
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::SafeRegex(RegexMatcher {
                regex: "/svc/.*".into(),
                ..Default::default()
            })),
            case_sensitive: Some(BoolValue { value: false }),
            headers: vec![HeaderMatcher {
                name: ":method".into(),
                header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
                ..Default::default()
            }],
            ..Default::default()
        }),
        action: Some(route::Action::Route(ProtoAction {
            cluster_specifier: Some(ClusterSpecifier::WeightedClusters(ProtoWeighted {
                clusters: vec![
                    ClusterWeight {
                        name: "a".into(),
                        weight: Some(UInt32Value { value: 90 }),
                        ..Default::default()
                    },
                    ClusterWeight {
                        name: "b".into(),
                        weight: Some(UInt32Value { value: 10 }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            })),
            ..Default::default()
        })),
        ..Default::default()
    };
    let exact = Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(PathSpecifier::Path("/x".into())),
            ..Default::default()
        }),
        action: Some(route::Action::NonForwardingAction(NonForwardingAction {})),
        ..Default::default()
    };
    let got = route_config(&config(vec![
        prefix_route("/", forward("c1")),
        regex_route,
        exact,
    ]))
    .unwrap();

    let routes = &got.virtual_hosts[0].routes;
    assert_eq!(got.name, "rc");
    assert_eq!(got.virtual_hosts[0].domains, ["*"]);
    assert_eq!(routes[0].matcher.path, PathMatch::Prefix("/".into()));
    assert!(
        routes[0].matcher.case_sensitive,
        "case sensitive by default"
    );
    assert_eq!(
        routes[0].action,
        RouteAction::Forward(vec![WeightedCluster {
            cluster: "c1".into(),
            weight: 1
        }])
    );
    assert_eq!(routes[1].name, "r2");
    assert_eq!(
        routes[1].matcher.path,
        PathMatch::Regex(Pattern::new("/svc/.*").unwrap())
    );
    assert!(!routes[1].matcher.case_sensitive);
    assert_eq!(
        routes[1].matcher.headers,
        [HeaderMatch {
            name: ":method".into(),
            matcher: StringMatch::Present,
            invert: false
        }]
    );
    assert_eq!(
        routes[1].action,
        RouteAction::Forward(vec![
            WeightedCluster {
                cluster: "a".into(),
                weight: 90
            },
            WeightedCluster {
                cluster: "b".into(),
                weight: 10
            },
        ])
    );
    assert_eq!(routes[2].matcher.path, PathMatch::Exact("/x".into()));
    assert_eq!(routes[2].action, RouteAction::NonForwarding);
}

#[test]
fn virtual_host_needs_domains() {
    let mut proto = config(vec![]);
    proto.virtual_hosts[0].domains.clear();
    assert_eq!(
        route_config(&proto).unwrap_err().field,
        "virtual_hosts[0].domains"
    );
}

#[test]
fn bad_regex_is_an_error() {
    let mut r = prefix_route("/", forward("c"));
    r.r#match.as_mut().unwrap().path_specifier = Some(PathSpecifier::SafeRegex(RegexMatcher {
        regex: "(".into(),
        ..Default::default()
    }));
    let err = error_of(vec![r]);
    assert_eq!(
        err.field,
        "virtual_hosts[0].routes[0].match.safe_regex.regex"
    );
    assert_eq!(err.kind, "RouteConfiguration");
    assert_eq!(err.resource, "rc");
}

#[test]
fn missing_match_or_path_is_an_error() {
    let mut r = prefix_route("/", forward("c"));
    r.r#match = None;
    assert_eq!(error_of(vec![r]).field, "virtual_hosts[0].routes[0].match");
    let mut r = prefix_route("/", forward("c"));
    r.r#match.as_mut().unwrap().path_specifier =
        Some(PathSpecifier::PathSeparatedPrefix("/a".into()));
    assert!(error_of(vec![r]).reason.contains("not supported"));
}

#[test]
fn runtime_fraction_and_query_parameters_are_unsupported() {
    let mut r = prefix_route("/", forward("c"));
    r.r#match.as_mut().unwrap().runtime_fraction = Some(RuntimeFractionalPercent::default());
    assert_eq!(
        error_of(vec![r]).field,
        "virtual_hosts[0].routes[0].match.runtime_fraction"
    );
    let mut r = prefix_route("/", forward("c"));
    r.r#match.as_mut().unwrap().query_parameters = vec![QueryParameterMatcher::default()];
    assert_eq!(
        error_of(vec![r]).field,
        "virtual_hosts[0].routes[0].match.query_parameters"
    );
}

#[test]
fn unsupported_actions_are_errors() {
    let direct = route::Action::DirectResponse(DirectResponseAction {
        status: 200,
        ..Default::default()
    });
    assert!(
        error_of(vec![prefix_route("/", direct)])
            .reason
            .contains("not supported")
    );
    let header = route::Action::Route(ProtoAction {
        cluster_specifier: Some(ClusterSpecifier::ClusterHeader("x-cluster".into())),
        ..Default::default()
    });
    assert_eq!(
        error_of(vec![prefix_route("/", header)]).field,
        "virtual_hosts[0].routes[0].route"
    );
    assert!(
        error_of(vec![prefix_route("/", forward(""))])
            .field
            .ends_with("route.cluster")
    );
    let mut none = prefix_route("/", forward("c"));
    none.action = None;
    assert!(error_of(vec![none]).reason.contains("no action"));
}

#[test]
fn weighted_clusters_must_add_up() {
    let weighted = |weights: &[u32]| {
        route::Action::Route(ProtoAction {
            cluster_specifier: Some(ClusterSpecifier::WeightedClusters(ProtoWeighted {
                clusters: weights
                    .iter()
                    .map(|w| ClusterWeight {
                        name: "c".into(),
                        weight: Some(UInt32Value { value: *w }),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })),
            ..Default::default()
        })
    };
    assert!(
        error_of(vec![prefix_route("/", weighted(&[0, 0]))])
            .reason
            .contains("add up to 0")
    );
    assert!(
        error_of(vec![prefix_route("/", weighted(&[u32::MAX, 1]))])
            .reason
            .contains("add up to")
    );
    assert!(route_config(&config(vec![prefix_route("/", weighted(&[0, 5]))])).is_ok());
}
