//! Listener: a client's `ApiListener` or a server's inbound listener (gRFC A36).
//!
//! A client's connection manager lists the fault filter before the router, so that routes can
//! inject faults (gRFC A33). A server's has no fault filter, which gRPC servers refuse: it lists
//! its RBAC filters (see `authz`), then its optional rate limit filter (see `rate_limit`), then
//! the router, in every filter chain.

use envoy_types::pb::envoy::config::listener::v3::{
    ApiListener, Filter, FilterChain, FilterChainMatch, Listener, filter,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier, http_filter,
};

use super::{
    ads_config_source, authz, fault, rate_limit, route_config, socket_address, tls, to_any,
};
use crate::model::{self, InboundTls, RouteSource, ServerListener};

/// The router, the terminal HTTP filter every gRPC client and server expects last.
const ROUTER_FILTER: &str = "envoy.filters.http.router";
/// The network filter that holds the HTTP connection manager in a server's filter chain.
const HCM_FILTER: &str = "envoy.filters.network.http_connection_manager";
/// The `filter_chain_match.transport_protocol` of connections that start a TLS handshake.
pub(crate) const TLS_TRANSPORT_PROTOCOL: &str = "tls";

/// Encodes a Listener: an `ApiListener` for a client, an addressed listener with filter chains
/// for a server.
pub fn listener(listener: &model::Listener) -> Listener {
    match listener {
        model::Listener::Client(l) => Listener {
            name: l.name.clone(),
            api_listener: Some(ApiListener {
                api_listener: Some(to_any(&http_connection_manager(
                    &l.routes,
                    vec![fault::http_filter()],
                ))),
            }),
            ..Default::default()
        },
        model::Listener::Server(l) => server_listener(l),
    }
}

/// A server listener: a default filter chain (with TLS when strict), plus, when permissive,
/// a TLS chain picked by `transport_protocol: tls`. gRPC servers, which do not tell TLS from
/// plaintext, use the default chain.
fn server_listener(l: &ServerListener) -> Listener {
    let filters = vec![Filter {
        name: HCM_FILTER.into(),
        config_type: Some(filter::ConfigType::TypedConfig(to_any(
            &http_connection_manager(&l.routes, inbound_filters(l)),
        ))),
    }];
    let default_chain = FilterChain {
        name: "default".into(),
        filters: filters.clone(),
        transport_socket: (l.tls == InboundTls::Strict).then(tls::downstream),
        ..Default::default()
    };
    let mut filter_chains = Vec::new();
    if l.tls == InboundTls::Permissive {
        filter_chains.push(FilterChain {
            name: "mtls".into(),
            filter_chain_match: Some(FilterChainMatch {
                transport_protocol: TLS_TRANSPORT_PROTOCOL.into(),
                ..Default::default()
            }),
            filters,
            transport_socket: Some(tls::downstream()),
            ..Default::default()
        });
    }
    Listener {
        name: l.name.clone(),
        address: Some(socket_address(l.address)),
        filter_chains,
        default_filter_chain: Some(default_chain),
        ..Default::default()
    }
}

/// A server's HTTP filters before the router: authorization, then the rate limit.
fn inbound_filters(l: &ServerListener) -> Vec<HttpFilter> {
    let mut filters = l
        .authorization
        .as_ref()
        .map(authz::http_filters)
        .unwrap_or_default();
    filters.extend(l.rate_limit.as_ref().map(rate_limit::http_filter));
    filters
}

/// An HTTP connection manager with the given route source and HTTP filters, then the router.
fn http_connection_manager(
    routes: &RouteSource,
    filters: Vec<HttpFilter>,
) -> HttpConnectionManager {
    let route_specifier = match routes {
        RouteSource::Rds(name) => RouteSpecifier::Rds(Rds {
            config_source: Some(ads_config_source()),
            route_config_name: name.clone(),
        }),
        RouteSource::Inline(config) => RouteSpecifier::RouteConfig(route_config(config)),
    };
    let router = HttpFilter {
        name: ROUTER_FILTER.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(
            &Router::default(),
        ))),
        ..Default::default()
    };
    let mut http_filters = filters;
    http_filters.push(router);
    HttpConnectionManager {
        route_specifier: Some(route_specifier),
        http_filters,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use envoy_types::pb::envoy::config::core::v3::{
        ApiVersion, config_source::ConfigSourceSpecifier,
    };
    use envoy_types::pb::envoy::config::route::v3::route::Action;
    use envoy_types::pb::google::protobuf::Any;
    use prost::Message;

    use super::*;
    use crate::model::{
        ClientListener, PathMatch, Route, RouteAction, RouteConfig, RouteMatch, VirtualHost,
    };
    use crate::xds::type_url;

    fn hcm(any: &Any) -> HttpConnectionManager {
        assert_eq!(any.type_url, type_url::HTTP_CONNECTION_MANAGER);
        HttpConnectionManager::decode(any.value.as_slice()).unwrap()
    }

    fn assert_router_last(hcm: &HttpConnectionManager) {
        let last = hcm.http_filters.last().expect("an HTTP filter");
        assert_eq!(last.name, ROUTER_FILTER);
        let Some(http_filter::ConfigType::TypedConfig(config)) = &last.config_type else {
            panic!("router without typed_config");
        };
        assert_eq!(config.type_url, type_url::ROUTER);
    }

    #[test]
    fn client_listener_points_at_rds_over_ads() {
        let encoded = listener(&model::Listener::Client(ClientListener {
            name: "serviceb.demo:50051".into(),
            routes: RouteSource::Rds("serviceb.demo.svc.cluster.local:50051".into()),
        }));
        assert_eq!(encoded.name, "serviceb.demo:50051");
        let api = encoded.api_listener.unwrap().api_listener.unwrap();
        let hcm = hcm(&api);
        let Some(RouteSpecifier::Rds(rds)) = &hcm.route_specifier else {
            panic!("not RDS: {:?}", hcm.route_specifier);
        };
        assert_eq!(
            rds.route_config_name,
            "serviceb.demo.svc.cluster.local:50051"
        );
        let source = rds.config_source.as_ref().unwrap();
        assert_eq!(source.resource_api_version, ApiVersion::V3 as i32);
        assert!(matches!(
            source.config_source_specifier,
            Some(ConfigSourceSpecifier::Ads(_))
        ));
        assert_router_last(&hcm);
        let [fault, _router] = hcm.http_filters.as_slice() else {
            panic!("expected the fault filter and the router");
        };
        assert_eq!(fault.name, fault::FAULT_FILTER);
        let Some(http_filter::ConfigType::TypedConfig(config)) = &fault.config_type else {
            panic!("fault filter without typed_config");
        };
        assert_eq!(config.type_url, type_url::HTTP_FAULT);
    }

    fn server(tls: InboundTls) -> (String, Listener) {
        let inbound = RouteConfig {
            name: "inbound".into(),
            virtual_hosts: vec![VirtualHost {
                name: "inbound".into(),
                domains: vec!["*".into()],
                routes: vec![Route {
                    policy: Default::default(),
                    name: String::new(),
                    matcher: RouteMatch {
                        path: PathMatch::Prefix(String::new()),
                        case_sensitive: true,
                        headers: vec![],
                    },
                    action: RouteAction::NonForwarding,
                }],
            }],
        };
        let name = format!("{}127.0.0.1:50051", type_url::SERVER_LISTENER_PREFIX);
        let encoded = listener(&model::Listener::Server(ServerListener {
            authorization: None,
            rate_limit: None,
            name: name.clone(),
            address: "127.0.0.1:50051".parse().unwrap(),
            routes: RouteSource::Inline(Arc::new(inbound)),
            tls,
        }));
        (name, encoded)
    }

    /// The chain's single filter is a connection manager with the inline inbound routes.
    fn assert_inbound_routes(chain: &FilterChain) {
        assert_eq!(chain.filters.len(), 1);
        assert_eq!(chain.filters[0].name, HCM_FILTER);
        let Some(filter::ConfigType::TypedConfig(config)) = &chain.filters[0].config_type else {
            panic!("filter without typed_config");
        };
        let hcm = hcm(config);
        let Some(RouteSpecifier::RouteConfig(routes)) = &hcm.route_specifier else {
            panic!("routes not inline: {:?}", hcm.route_specifier);
        };
        assert_eq!(routes.virtual_hosts[0].domains, ["*"]);
        assert!(matches!(
            routes.virtual_hosts[0].routes[0].action,
            Some(Action::NonForwardingAction(_))
        ));
        assert_router_last(&hcm);
        assert_eq!(hcm.http_filters.len(), 1, "servers have no fault filter");
    }

    #[test]
    fn server_policies_come_before_the_router_in_every_chain() {
        use std::time::Duration;

        use crate::model::{Authorization, AuthzAction, AuthzRule, LocalRateLimit};

        let (_, plain) = server(InboundTls::Permissive);
        let mut l = match decode_back(&plain) {
            model::Listener::Server(l) => l,
            other => panic!("not a server listener: {other:?}"),
        };
        l.authorization = Some(Authorization {
            rules: vec![AuthzRule {
                name: "r".into(),
                action: AuthzAction::Deny,
                from: vec![],
                to: vec![],
            }],
            default_action: AuthzAction::Deny,
        });
        l.rate_limit = Some(LocalRateLimit {
            max_tokens: 1,
            tokens_per_fill: 1,
            fill_interval: Duration::from_secs(1),
        });
        let encoded = listener(&model::Listener::Server(l));
        let chains = encoded
            .filter_chains
            .iter()
            .chain(&encoded.default_filter_chain);
        for chain in chains {
            let Some(filter::ConfigType::TypedConfig(config)) = &chain.filters[0].config_type
            else {
                panic!("filter without typed_config");
            };
            let hcm = hcm(config);
            let names: Vec<&str> = hcm.http_filters.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    authz::DENY_FILTER,
                    authz::ALLOW_FILTER,
                    rate_limit::RATE_LIMIT_FILTER,
                    ROUTER_FILTER
                ]
            );
            assert!(hcm.http_filters[2].is_optional);
        }
    }

    fn decode_back(encoded: &Listener) -> model::Listener {
        crate::xds::decode::listener(encoded).unwrap()
    }

    #[test]
    fn plaintext_server_listener_has_address_and_inline_routes() {
        let (name, encoded) = server(InboundTls::Plaintext);
        assert_eq!(encoded.name, name);
        assert_eq!(
            encoded.address,
            Some(socket_address("127.0.0.1:50051".parse().unwrap()))
        );
        assert!(encoded.api_listener.is_none());
        assert!(encoded.filter_chains.is_empty());
        let chain = encoded.default_filter_chain.unwrap();
        assert!(chain.transport_socket.is_none());
        assert_inbound_routes(&chain);
    }

    #[test]
    fn strict_server_listener_has_tls_on_the_default_chain() {
        let (_, encoded) = server(InboundTls::Strict);
        assert!(encoded.filter_chains.is_empty());
        let chain = encoded.default_filter_chain.unwrap();
        assert_eq!(chain.transport_socket, Some(tls::downstream()));
        assert_inbound_routes(&chain);
    }

    #[test]
    fn permissive_server_listener_adds_a_tls_chain_to_the_plaintext_default() {
        let (_, encoded) = server(InboundTls::Permissive);
        let default = encoded.default_filter_chain.unwrap();
        assert!(default.transport_socket.is_none());
        assert_inbound_routes(&default);
        let [mtls] = encoded.filter_chains.as_slice() else {
            panic!("expected one TLS chain: {:?}", encoded.filter_chains);
        };
        let matcher = mtls.filter_chain_match.as_ref().unwrap();
        assert_eq!(matcher.transport_protocol, "tls");
        assert_eq!(mtls.transport_socket, Some(tls::downstream()));
        assert_inbound_routes(mtls);
    }
}
