//! Valid wire resources for tests: each test changes the one field it is about.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ConfigSource, SocketAddress, TransportSocket, address,
    config_source, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{ApiListener, Listener};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route,
    route_action::ClusterSpecifier, route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager::RouteSpecifier, http_filter,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateProviderPluginInstance, CertificateValidationContext, CommonTlsContext,
    DownstreamTlsContext, SubjectAltNameMatcher, common_tls_context, subject_alt_name_matcher,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{Any, BoolValue, UInt32Value};
use prost::{Message, Name};

use crate::xds::type_url;

/// Packs `message` with `type_url`.
pub(crate) fn any(type_url: &str, message: &impl Message) -> Any {
    Any {
        type_url: type_url.to_string(),
        value: message.encode_to_vec(),
    }
}

/// `ads: {}`.
pub(crate) fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}

/// A socket address.
pub(crate) fn address(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// The router HTTP filter.
pub(crate) fn router() -> HttpFilter {
    HttpFilter {
        name: "router".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(
            type_url::ROUTER,
            &Router::default(),
        ))),
        ..Default::default()
    }
}

/// A connection manager that fetches `route_name` over ADS.
pub(crate) fn hcm_rds(route_name: &str) -> HttpConnectionManager {
    HttpConnectionManager {
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: route_name.into(),
        })),
        http_filters: vec![router()],
        ..Default::default()
    }
}

/// A client listener `name` whose routes come from RDS `route_name`.
pub(crate) fn client_listener(name: &str, route_name: &str) -> Listener {
    Listener {
        name: name.into(),
        api_listener: Some(ApiListener {
            api_listener: Some(any(type_url::HTTP_CONNECTION_MANAGER, &hcm_rds(route_name))),
        }),
        ..Default::default()
    }
}

/// A route table `name` sending everything to `cluster`.
pub(crate) fn route_config(name: &str, cluster: &str) -> RouteConfiguration {
    RouteConfiguration {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: "all".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                r#match: Some(RouteMatch {
                    path_specifier: Some(PathSpecifier::Prefix("/".into())),
                    ..Default::default()
                }),
                action: Some(route::Action::Route(RouteAction {
                    cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.into())),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An EDS cluster `name` (service name left empty: it defaults to `name`).
pub(crate) fn eds_cluster(name: &str) -> Cluster {
    Cluster {
        name: name.into(),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(
            cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cluster::EdsClusterConfig {
            eds_config: Some(ads()),
            service_name: String::new(),
        }),
        ..Default::default()
    }
}

/// One locality of weight 1 holding endpoints at `addresses` (`IP:PORT`).
pub(crate) fn endpoints(name: &str, addresses: &[&str]) -> ClusterLoadAssignment {
    let lb_endpoints = addresses
        .iter()
        .map(|a| {
            let (ip, port) = a.rsplit_once(':').expect("IP:PORT");
            LbEndpoint {
                host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                    address: Some(address(
                        ip.trim_matches(['[', ']']),
                        port.parse().expect("port"),
                    )),
                    ..Default::default()
                })),
                ..Default::default()
            }
        })
        .collect();
    ClusterLoadAssignment {
        cluster_name: name.into(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints,
            load_balancing_weight: Some(UInt32Value { value: 1 }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A TLS transport socket holding `context` (an `UpstreamTlsContext` or
/// `DownstreamTlsContext`).
pub(crate) fn tls_socket<M: Message + Name>(context: &M) -> TransportSocket {
    TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(
            &M::type_url(),
            context,
        ))),
    }
}

/// The smallest mTLS context: our certificate and the trust bundle from provider `p`, peers
/// matched by `san_uris` (exact URI SANs).
pub(crate) fn mtls_context(san_uris: &[&str]) -> CommonTlsContext {
    let instance = CertificateProviderPluginInstance {
        instance_name: "p".into(),
        certificate_name: String::new(),
    };
    let san = |uri: &&str| SubjectAltNameMatcher {
        san_type: subject_alt_name_matcher::SanType::Uri as i32,
        matcher: Some(StringMatcher {
            match_pattern: Some(string_matcher::MatchPattern::Exact(uri.to_string())),
            ignore_case: false,
        }),
        oid: String::new(),
    };
    CommonTlsContext {
        tls_certificate_provider_instance: Some(instance.clone()),
        validation_context_type: Some(
            common_tls_context::ValidationContextType::ValidationContext(
                CertificateValidationContext {
                    ca_certificate_provider_instance: Some(instance),
                    match_typed_subject_alt_names: san_uris.iter().map(san).collect(),
                    ..Default::default()
                },
            ),
        ),
        ..Default::default()
    }
}

/// A server's mTLS socket: [`mtls_context`] with no SAN matcher, client certificate required.
pub(crate) fn downstream_mtls() -> TransportSocket {
    tls_socket(&DownstreamTlsContext {
        common_tls_context: Some(mtls_context(&[])),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    })
}
