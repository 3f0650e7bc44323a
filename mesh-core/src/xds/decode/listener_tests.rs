use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket};
use envoy_types::pb::envoy::config::listener::v3::{
    ApiListener, Filter, FilterChain, FilterChainMatch,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::Rds;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::google::protobuf::Any;
use prost::Message;

use super::*;
use crate::xds::decode::fixtures::{
    address, any, client_listener, downstream_mtls, hcm_rds, route_config, router,
};

fn with_hcm(hcm: &HttpConnectionManager) -> Listener {
    Listener {
        name: "l".into(),
        api_listener: Some(ApiListener {
            api_listener: Some(any(type_url::HTTP_CONNECTION_MANAGER, hcm)),
        }),
        ..Default::default()
    }
}

fn server(chains: Vec<FilterChain>, default: Option<FilterChain>) -> Listener {
    Listener {
        name: "grpc/server?xds.resource.listening_address=127.0.0.1:8080".into(),
        address: Some(address("127.0.0.1", 8080)),
        filter_chains: chains,
        default_filter_chain: default,
        ..Default::default()
    }
}

fn chain(hcm: &HttpConnectionManager) -> FilterChain {
    FilterChain {
        filters: vec![Filter {
            name: "hcm".into(),
            config_type: Some(filter::ConfigType::TypedConfig(any(
                type_url::HTTP_CONNECTION_MANAGER,
                hcm,
            ))),
        }],
        ..Default::default()
    }
}

fn optional_filter(optional: bool) -> HttpFilter {
    HttpFilter {
        name: "fault".into(),
        is_optional: optional,
        config_type: Some(http_filter::ConfigType::TypedConfig(Any {
            type_url: "type.googleapis.com/some.Filter".into(),
            value: vec![],
        })),
        ..Default::default()
    }
}

#[test]
fn client_listener_with_rds() {
    let got = listener(&client_listener("serviceb.demo:50051", "rc")).unwrap();
    assert_eq!(
        got,
        model::Listener::Client(ClientListener {
            name: "serviceb.demo:50051".into(),
            routes: RouteSource::Rds("rc".into()),
        })
    );
}

#[test]
fn client_listener_with_inline_routes() {
    let mut hcm = hcm_rds("unused");
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(route_config("inline", "c")));
    let model::Listener::Client(got) = listener(&with_hcm(&hcm)).unwrap() else {
        panic!("not a client listener")
    };
    let RouteSource::Inline(rc) = got.routes else {
        panic!("not inline")
    };
    assert_eq!(rc.name, "inline");
}

#[test]
fn inline_route_errors_carry_the_listener_path() {
    let mut rc = route_config("inline", "c");
    rc.virtual_hosts[0].domains.clear();
    let mut hcm = hcm_rds("unused");
    hcm.route_specifier = Some(RouteSpecifier::RouteConfig(rc));
    let err = listener(&with_hcm(&hcm)).unwrap_err();
    assert_eq!(err.kind, "Listener");
    assert_eq!(
        err.field,
        "api_listener.api_listener.route_config.virtual_hosts[0].domains"
    );
}

#[test]
fn api_listener_must_hold_a_connection_manager() {
    let mut l = client_listener("serviceb.demo:50051", "rc");
    l.api_listener = Some(ApiListener {
        api_listener: Some(Any {
            type_url: "type.googleapis.com/X".into(),
            value: vec![],
        }),
    });
    let err = listener(&l).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Listener \"serviceb.demo:50051\": api_listener.api_listener: expected HttpConnectionManager, \
         got \"type.googleapis.com/X\""
    );
    l.api_listener = Some(ApiListener { api_listener: None });
    assert!(listener(&l).is_err());
}

#[test]
fn rds_must_use_ads_and_name_a_route() {
    let mut hcm = hcm_rds("rc");
    hcm.route_specifier = Some(RouteSpecifier::Rds(Rds {
        config_source: None,
        route_config_name: "rc".into(),
    }));
    assert_eq!(
        listener(&with_hcm(&hcm)).unwrap_err().field,
        "api_listener.api_listener.rds.config_source"
    );
    let hcm = hcm_rds("");
    assert_eq!(
        listener(&with_hcm(&hcm)).unwrap_err().field,
        "api_listener.api_listener.rds.route_config_name"
    );
    let mut hcm = hcm_rds("rc");
    hcm.route_specifier = None;
    assert!(
        listener(&with_hcm(&hcm))
            .unwrap_err()
            .reason
            .contains("route_specifier")
    );
}

#[test]
fn http_filters_end_with_the_router() {
    let mut hcm = hcm_rds("rc");
    hcm.http_filters.clear();
    assert!(
        listener(&with_hcm(&hcm))
            .unwrap_err()
            .reason
            .contains("empty")
    );

    hcm.http_filters = vec![optional_filter(true)];
    assert!(
        listener(&with_hcm(&hcm))
            .unwrap_err()
            .reason
            .contains("last filter must be the router")
    );

    hcm.http_filters = vec![router(), router()];
    assert!(
        listener(&with_hcm(&hcm))
            .unwrap_err()
            .reason
            .contains("must be the last")
    );

    hcm.http_filters = vec![optional_filter(false), router()];
    let err = listener(&with_hcm(&hcm)).unwrap_err();
    assert_eq!(err.field, "api_listener.api_listener.http_filters[0]");
    assert!(err.reason.contains("is_optional"), "{err}");

    hcm.http_filters = vec![optional_filter(true), router()];
    assert!(
        listener(&with_hcm(&hcm)).is_ok(),
        "optional filters are skipped"
    );
}

fn fault_filter(config: &HttpFault) -> HttpFilter {
    HttpFilter {
        name: "envoy.filters.http.fault".into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(
            type_url::HTTP_FAULT,
            config,
        ))),
        ..Default::default()
    }
}

#[test]
fn clients_accept_the_fault_filter_without_faults_of_its_own() {
    let mut hcm = hcm_rds("rc");
    hcm.http_filters = vec![fault_filter(&HttpFault::default()), router()];
    assert!(listener(&with_hcm(&hcm)).is_ok());

    let configured = HttpFault {
        abort: Some(Default::default()),
        ..Default::default()
    };
    hcm.http_filters = vec![fault_filter(&configured), router()];
    let err = listener(&with_hcm(&hcm)).unwrap_err();
    assert_eq!(
        err.field,
        "api_listener.api_listener.http_filters[0].typed_config"
    );
    assert!(
        err.reason.starts_with(
            "a listener-level fault config (delay or abort on the filter itself) is \
                          not supported; put the fault on the route"
        ),
        "{err}"
    );
}

#[test]
fn servers_take_the_fault_filter_only_if_optional() {
    let mut hcm = hcm_rds("rc");
    hcm.http_filters = vec![fault_filter(&HttpFault::default()), router()];
    let err = listener(&server(vec![chain(&hcm)], None)).unwrap_err();
    assert_eq!(
        err.field,
        "filter_chains[0].filters[0].typed_config.http_filters[0]"
    );
    hcm.http_filters[0].is_optional = true;
    assert!(listener(&server(vec![chain(&hcm)], None)).is_ok());
}

#[test]
fn server_listener_takes_the_default_chain_then_the_first() {
    let name = "grpc/server?xds.resource.listening_address=127.0.0.1:8080";
    let got = listener(&server(
        vec![chain(&hcm_rds("first"))],
        Some(chain(&hcm_rds("default"))),
    ))
    .unwrap();
    assert_eq!(
        got,
        model::Listener::Server(ServerListener {
            authorization: None,
            rate_limit: None,
            name: name.into(),
            address: "127.0.0.1:8080".parse().unwrap(),
            routes: RouteSource::Rds("default".into()),
            tls: model::InboundTls::Plaintext,
        })
    );
    let model::Listener::Server(got) =
        listener(&server(vec![chain(&hcm_rds("first"))], None)).unwrap()
    else {
        panic!("not a server listener")
    };
    assert_eq!(got.routes, RouteSource::Rds("first".into()));
}

#[test]
fn server_listener_errors() {
    assert_eq!(
        listener(&server(vec![], None)).unwrap_err().field,
        "filter_chains"
    );
    let mut two = chain(&hcm_rds("rc"));
    two.filters.push(two.filters[0].clone());
    assert_eq!(
        listener(&server(vec![two], None)).unwrap_err().field,
        "filter_chains[0].filters"
    );
    let mut bad_address = server(vec![chain(&hcm_rds("rc"))], None);
    bad_address.address = Some(address("not-an-ip", 1));
    assert_eq!(
        listener(&bad_address).unwrap_err().field,
        "address.socket_address.address"
    );
    let neither = Listener {
        name: "x".into(),
        ..Default::default()
    };
    assert!(listener(&neither).unwrap_err().reason.contains("neither"));
}

fn tls_chain(hcm: &HttpConnectionManager, socket: Option<TransportSocket>) -> FilterChain {
    FilterChain {
        filter_chain_match: Some(FilterChainMatch {
            transport_protocol: "tls".into(),
            ..Default::default()
        }),
        transport_socket: socket,
        ..chain(hcm)
    }
}

fn inbound_tls(proto: &Listener) -> Result<model::InboundTls, DecodeError> {
    match listener(proto)? {
        model::Listener::Server(l) => Ok(l.tls),
        other => panic!("not a server listener: {other:?}"),
    }
}

#[test]
fn server_listener_tls_modes() {
    let hcm = hcm_rds("rc");
    let strict_default = FilterChain {
        transport_socket: Some(downstream_mtls()),
        ..chain(&hcm)
    };
    assert_eq!(
        inbound_tls(&server(vec![], Some(strict_default))),
        Ok(model::InboundTls::Strict)
    );
    // Only a TLS chain: plaintext connections match nothing.
    assert_eq!(
        inbound_tls(&server(
            vec![tls_chain(&hcm, Some(downstream_mtls()))],
            None
        )),
        Ok(model::InboundTls::Strict)
    );
    assert_eq!(
        inbound_tls(&server(
            vec![tls_chain(&hcm, Some(downstream_mtls()))],
            Some(chain(&hcm))
        )),
        Ok(model::InboundTls::Permissive)
    );
    assert_eq!(
        inbound_tls(&server(
            vec![chain(&hcm), tls_chain(&hcm, Some(downstream_mtls()))],
            None
        )),
        Ok(model::InboundTls::Permissive)
    );
    assert_eq!(
        inbound_tls(&server(vec![chain(&hcm)], None)),
        Ok(model::InboundTls::Plaintext)
    );
}

#[test]
fn server_listener_tls_errors() {
    let hcm = hcm_rds("rc");
    let err = inbound_tls(&server(vec![tls_chain(&hcm, None)], Some(chain(&hcm)))).unwrap_err();
    assert_eq!(err.field, "filter_chains[0].transport_socket");

    let other_routes = tls_chain(&hcm_rds("other"), Some(downstream_mtls()));
    let err = inbound_tls(&server(vec![other_routes], Some(chain(&hcm)))).unwrap_err();
    assert_eq!(err.field, "filter_chains[0]");
    assert!(err.reason.contains("other routes"), "{err}");

    let mut server_only_tls = downstream_mtls();
    if let Some(transport_socket::ConfigType::TypedConfig(any)) = &mut server_only_tls.config_type {
        let mut context = DownstreamTlsContext::decode(any.value.as_slice()).unwrap();
        context.require_client_certificate = None;
        any.value = context.encode_to_vec();
    }
    let strict_default = FilterChain {
        transport_socket: Some(server_only_tls),
        ..chain(&hcm)
    };
    let err = inbound_tls(&server(vec![], Some(strict_default))).unwrap_err();
    assert_eq!(
        err.field,
        "default_filter_chain.transport_socket.typed_config.require_client_certificate"
    );
}

#[test]
fn permissive_chains_must_enforce_the_same_policies() {
    use envoy_types::pb::envoy::config::rbac::v3::{self as rbac, rbac::Action};
    use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;

    let deny_all = Rbac {
        rules: Some(rbac::Rbac {
            action: Action::Allow as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut guarded = hcm_rds("rc");
    guarded.http_filters.insert(
        0,
        HttpFilter {
            name: "rbac".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(any(
                type_url::HTTP_RBAC,
                &deny_all,
            ))),
            ..Default::default()
        },
    );
    let open = hcm_rds("rc");
    let proto = server(
        vec![tls_chain(&guarded, Some(downstream_mtls()))],
        Some(chain(&open)),
    );
    let err = listener(&proto).unwrap_err();
    assert_eq!(err.field, "filter_chains[0]");
    assert!(err.reason.contains("authorization or rate limit"), "{err}");

    let proto = server(
        vec![tls_chain(&guarded, Some(downstream_mtls()))],
        Some(chain(&guarded)),
    );
    let Ok(model::Listener::Server(l)) = listener(&proto) else {
        panic!("not a server listener");
    };
    assert_eq!(l.tls, model::InboundTls::Permissive);
    assert_eq!(
        l.authorization.map(|a| (a.rules.len(), a.default_action)),
        Some((0, model::AuthzAction::Deny))
    );
}
