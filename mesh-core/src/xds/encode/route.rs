//! RouteConfiguration: virtual hosts, matches and weighted cluster actions, with each route's
//! policy (see `route_policy` and `fault`).

use envoy_types::pb::envoy::config::route::v3::{
    self as route, HeaderMatcher, NonForwardingAction, RouteConfiguration, RouteMatch,
    WeightedCluster, header_matcher::HeaderMatchSpecifier, route::Action,
    route_action::ClusterSpecifier, route_match::PathSpecifier, weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, regex_matcher, string_matcher::MatchPattern,
};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::{fault, route_policy, stable_map};
use crate::model::{self, PathMatch, RouteAction, StringMatch};

/// Encodes a RouteConfiguration.
pub fn route_config(config: &model::RouteConfig) -> RouteConfiguration {
    RouteConfiguration {
        name: config.name.clone(),
        virtual_hosts: config.virtual_hosts.iter().map(virtual_host).collect(),
        ..Default::default()
    }
}

fn virtual_host(host: &model::VirtualHost) -> route::VirtualHost {
    route::VirtualHost {
        name: host.name.clone(),
        domains: host.domains.clone(),
        routes: host.routes.iter().map(route).collect(),
        ..Default::default()
    }
}

fn route(r: &model::Route) -> route::Route {
    let action = match &r.action {
        RouteAction::Forward(clusters) => Action::Route(route_action(clusters, &r.policy)),
        RouteAction::NonForwarding => Action::NonForwardingAction(NonForwardingAction {}),
    };
    let typed_per_filter_config = stable_map(
        r.policy
            .fault
            .iter()
            .map(|f| (fault::FAULT_FILTER.to_string(), fault::per_route_config(f))),
    );
    route::Route {
        name: r.name.clone(),
        r#match: Some(route_match(&r.matcher)),
        action: Some(action),
        typed_per_filter_config,
        ..Default::default()
    }
}

fn route_match(m: &model::RouteMatch) -> RouteMatch {
    let path = match &m.path {
        PathMatch::Prefix(p) => PathSpecifier::Prefix(p.clone()),
        PathMatch::Exact(p) => PathSpecifier::Path(p.clone()),
        PathMatch::Regex(p) => PathSpecifier::SafeRegex(regex(p.as_str())),
    };
    RouteMatch {
        path_specifier: Some(path),
        case_sensitive: Some(BoolValue {
            value: m.case_sensitive,
        }),
        headers: m.headers.iter().map(header_matcher).collect(),
        ..Default::default()
    }
}

/// A single cluster becomes `cluster`, several become `weighted_clusters`; the policy's
/// timeout, retries and hash key go along.
fn route_action(
    clusters: &[model::WeightedCluster],
    policy: &model::RoutePolicy,
) -> route::RouteAction {
    let specifier = match clusters {
        [single] => ClusterSpecifier::Cluster(single.cluster.clone()),
        _ => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: clusters
                .iter()
                .map(|c| ClusterWeight {
                    name: c.cluster.clone(),
                    weight: Some(UInt32Value { value: c.weight }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    route::RouteAction {
        cluster_specifier: Some(specifier),
        max_stream_duration: policy.timeout.map(route_policy::max_stream_duration),
        retry_policy: policy.retry.as_ref().map(route_policy::retry_policy),
        hash_policy: policy
            .hash_header
            .iter()
            .map(|h| route_policy::hash_policy(h))
            .collect(),
        ..Default::default()
    }
}

/// A header matcher.
pub(super) fn header_matcher(h: &model::HeaderMatch) -> HeaderMatcher {
    let specifier = match &h.matcher {
        StringMatch::Present => HeaderMatchSpecifier::PresentMatch(true),
        other => HeaderMatchSpecifier::StringMatch(string_matcher(other)),
    };
    HeaderMatcher {
        name: h.name.clone(),
        invert_match: h.invert,
        header_match_specifier: Some(specifier),
        ..Default::default()
    }
}

/// A string matcher. `StringMatcher` has no "present" pattern, so [`StringMatch::Present`]
/// becomes the regex `.+` (for headers, use `present_match` instead).
pub(super) fn string_matcher(m: &StringMatch) -> StringMatcher {
    let pattern = match m {
        StringMatch::Exact(s) => MatchPattern::Exact(s.clone()),
        StringMatch::Prefix(s) => MatchPattern::Prefix(s.clone()),
        StringMatch::Suffix(s) => MatchPattern::Suffix(s.clone()),
        StringMatch::Contains(s) => MatchPattern::Contains(s.clone()),
        StringMatch::Regex(p) => MatchPattern::SafeRegex(regex(p.as_str())),
        StringMatch::Present => MatchPattern::SafeRegex(regex(".+")),
    };
    StringMatcher {
        match_pattern: Some(pattern),
        ignore_case: false,
    }
}

/// An RE2 matcher; gRPC rejects a `RegexMatcher` without the `google_re2` engine.
#[allow(deprecated)] // `engine_type` is deprecated in Envoy, still required by gRPC.
fn regex(source: &str) -> RegexMatcher {
    RegexMatcher {
        regex: source.to_string(),
        engine_type: Some(regex_matcher::EngineType::GoogleRe2(
            regex_matcher::GoogleRe2::default(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HeaderMatch, Pattern, Route, RouteConfig, VirtualHost};

    fn config(matcher: model::RouteMatch, action: RouteAction) -> RouteConfig {
        RouteConfig {
            name: "rc".into(),
            virtual_hosts: vec![VirtualHost {
                name: "vh".into(),
                domains: vec!["a:1".into(), "a".into()],
                routes: vec![Route {
                    policy: Default::default(),
                    name: "r".into(),
                    matcher,
                    action,
                }],
            }],
        }
    }

    fn forward(clusters: &[(&str, u32)]) -> RouteAction {
        RouteAction::Forward(
            clusters
                .iter()
                .map(|(c, w)| model::WeightedCluster {
                    cluster: c.to_string(),
                    weight: *w,
                })
                .collect(),
        )
    }

    fn only_route(rc: &RouteConfiguration) -> &route::Route {
        &rc.virtual_hosts[0].routes[0]
    }

    #[test]
    fn single_cluster_prefix_route() {
        let m = model::RouteMatch {
            path: PathMatch::Prefix("/pkg.Svc/".into()),
            case_sensitive: true,
            headers: vec![],
        };
        let rc = route_config(&config(m, forward(&[("c1", 1)])));
        assert_eq!(rc.name, "rc");
        assert_eq!(rc.virtual_hosts[0].domains, ["a:1", "a"]);
        let r = only_route(&rc);
        let rm = r.r#match.as_ref().unwrap();
        assert_eq!(
            rm.path_specifier,
            Some(PathSpecifier::Prefix("/pkg.Svc/".into()))
        );
        assert_eq!(rm.case_sensitive, Some(BoolValue { value: true }));
        let Some(Action::Route(action)) = &r.action else {
            panic!("not a route action");
        };
        assert_eq!(
            action.cluster_specifier,
            Some(ClusterSpecifier::Cluster("c1".into()))
        );
    }

    #[test]
    fn weighted_clusters_regex_and_headers() {
        let m = model::RouteMatch {
            path: PathMatch::Regex(Pattern::new("/a/.*").unwrap()),
            case_sensitive: false,
            headers: vec![
                HeaderMatch {
                    name: ":method".into(),
                    matcher: StringMatch::Exact("GET".into()),
                    invert: false,
                },
                HeaderMatch {
                    name: "x-canary".into(),
                    matcher: StringMatch::Present,
                    invert: true,
                },
            ],
        };
        let rc = route_config(&config(m, forward(&[("v1", 90), ("v2", 10)])));
        let r = only_route(&rc);
        let rm = r.r#match.as_ref().unwrap();
        let Some(PathSpecifier::SafeRegex(re)) = &rm.path_specifier else {
            panic!("not a regex: {:?}", rm.path_specifier);
        };
        assert_eq!(re.regex, "/a/.*");
        #[allow(deprecated)]
        let engine = re.engine_type.is_some();
        assert!(engine, "gRPC needs the google_re2 engine");
        assert_eq!(rm.case_sensitive, Some(BoolValue { value: false }));
        assert_eq!(rm.headers[0].name, ":method");
        let Some(HeaderMatchSpecifier::StringMatch(sm)) = &rm.headers[0].header_match_specifier
        else {
            panic!("not a string match");
        };
        assert_eq!(sm.match_pattern, Some(MatchPattern::Exact("GET".into())));
        assert!(rm.headers[1].invert_match);
        assert_eq!(
            rm.headers[1].header_match_specifier,
            Some(HeaderMatchSpecifier::PresentMatch(true))
        );
        let Some(Action::Route(action)) = &r.action else {
            panic!("not a route action");
        };
        let Some(ClusterSpecifier::WeightedClusters(wc)) = &action.cluster_specifier else {
            panic!("not weighted: {:?}", action.cluster_specifier);
        };
        let got: Vec<_> = wc
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), c.weight.unwrap().value))
            .collect();
        assert_eq!(got, [("v1", 90), ("v2", 10)]);
    }
}
