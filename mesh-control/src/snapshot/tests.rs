//! Snapshot building: names, domains, clusters, endpoints (static and registered).

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, lb_endpoint::HostIdentifier,
};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager::RouteSpecifier,
};
use mesh_core::model::{
    Endpoint, HealthStatus, InboundTls, PathMatch, Route, RouteAction, RouteMatch, StringMatch,
    UpstreamProtocol, UpstreamTls, WeightedCluster,
};
use mesh_core::registration::Registration;
use mesh_core::xds::type_url;
use prost::Message;
use spiffe::TrustDomain;

use super::*;
use crate::config::{MeshConfig, PortConfig, ServiceConfig, ServiceRef, ServiceTls, TlsMode};
use crate::registry::RegisteredEndpoints;

mod inbound;
mod policy;

/// The cluster of `serviceb.demo` port 50051.
pub(crate) const CLUSTER_B: &str = "serviceb.demo.svc.cluster.local:50051";

fn port(port: u16, endpoints: Vec<Endpoint>) -> PortConfig {
    let cluster = format!("serviceb.demo.svc.cluster.local:{port}");
    PortConfig {
        name: None,
        port,
        protocol: UpstreamProtocol::Http2,
        routes: vec![Route {
            policy: Default::default(),
            name: "default".into(),
            matcher: RouteMatch {
                path: PathMatch::Prefix(String::new()),
                case_sensitive: true,
                headers: vec![],
            },
            action: RouteAction::Forward(vec![WeightedCluster { cluster, weight: 1 }]),
        }],
        endpoints,
    }
}

/// `serviceb.demo` with ports 50051 (one static endpoint, 10.0.0.1) and 8080 (none).
pub(crate) fn one_service() -> MeshConfig {
    let service = ServiceRef::new("demo", "serviceb");
    let endpoint = Endpoint {
        address: "10.0.0.1:50051".parse().unwrap(),
        weight: 1,
        health: HealthStatus::Unknown,
    };
    let mut config = MeshConfig::default();
    config.services.insert(
        service.clone(),
        ServiceConfig {
            service,
            ports: vec![port(50051, vec![endpoint]), port(8080, vec![])],
            tls: Default::default(),
            policy: Default::default(),
            authorization: None,
            rate_limit: None,
        },
    );
    config
}

fn decode<M: Message + Default>(snapshot: &Snapshot, type_url: &str, name: &str) -> M {
    let resource = snapshot
        .get(type_url, name)
        .unwrap_or_else(|| panic!("{name} missing"));
    M::decode(resource.any.value.as_slice()).unwrap()
}

fn addresses(cla: &ClusterLoadAssignment) -> Vec<String> {
    cla.endpoints[0]
        .lb_endpoints
        .iter()
        .map(|e| match &e.host_identifier {
            Some(HostIdentifier::Endpoint(e)) => format!("{:?}", e.address),
            other => panic!("no endpoint: {other:?}"),
        })
        .collect()
}

fn registered(list: &[(&str, &str)]) -> RegisteredEndpoints {
    let mut endpoints = RegisteredEndpoints::default();
    for (service, address) in list {
        endpoints.add(&Registration {
            service: service.to_string(),
            address: address.parse().unwrap(),
        });
    }
    endpoints
}

#[test]
fn listeners_for_every_name_of_every_port() {
    let snapshot = Snapshot::build(
        &one_service(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    let listeners = snapshot.resources(type_url::LISTENER).unwrap();
    // Six names for the default port, three for the other.
    assert_eq!(listeners.len(), 9, "{:?}", listeners.keys());
    let l: Listener = decode(&snapshot, type_url::LISTENER, "serviceb");
    assert_eq!(l.name, "serviceb");
    assert!(listeners.contains_key("serviceb.demo:8080"));
    // The port-less names belong to the first port.
    let any = l.api_listener.unwrap().api_listener.unwrap();
    let hcm = HttpConnectionManager::decode(any.value.as_slice()).unwrap();
    let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier else {
        panic!("not RDS");
    };
    assert_eq!(rds.route_config_name, CLUSTER_B);
    assert!(snapshot.get(type_url::LISTENER, "nope:1").is_none());
}

#[test]
fn route_config_domains_are_the_listener_names() {
    let snapshot = Snapshot::build(
        &one_service(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    let rc: RouteConfiguration = decode(&snapshot, type_url::ROUTE_CONFIGURATION, CLUSTER_B);
    let domains = &rc.virtual_hosts[0].domains;
    assert_eq!(domains.len(), 6);
    assert!(domains.contains(&"serviceb.demo:50051".to_string()));
    assert!(domains.contains(&"serviceb".to_string()));
    assert_eq!(rc.virtual_hosts[0].routes.len(), 1);
}

#[test]
fn cluster_and_static_endpoints() {
    let snapshot = Snapshot::build(
        &one_service(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    assert_eq!(snapshot.resources(type_url::CLUSTER).unwrap().len(), 2);
    let c: Cluster = decode(&snapshot, type_url::CLUSTER, CLUSTER_B);
    assert_eq!(c.eds_cluster_config.unwrap().service_name, CLUSTER_B);
    let cla: ClusterLoadAssignment =
        decode(&snapshot, type_url::CLUSTER_LOAD_ASSIGNMENT, CLUSTER_B);
    assert_eq!(addresses(&cla).len(), 1);
    let empty: ClusterLoadAssignment = decode(
        &snapshot,
        type_url::CLUSTER_LOAD_ASSIGNMENT,
        "serviceb.demo.svc.cluster.local:8080",
    );
    assert!(empty.endpoints[0].lb_endpoints.is_empty());
}

#[test]
fn registered_endpoints_join_through_any_listener_name() {
    let registered = registered(&[
        ("serviceb.demo:50051", "127.0.0.1:1"),
        ("serviceb", "127.0.0.1:2"),
        ("serviceb.demo:50051", "10.0.0.1:50051"), // same as the static one
        ("unknown:1", "127.0.0.1:3"),
    ]);
    let snapshot = Snapshot::build(&one_service(), &registered, &BuildSettings::default());
    let cla: ClusterLoadAssignment =
        decode(&snapshot, type_url::CLUSTER_LOAD_ASSIGNMENT, CLUSTER_B);
    let got = addresses(&cla);
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got.iter()
            .any(|a| a.contains("127.0.0.1") && a.contains("PortValue(2)"))
    );
    assert!(!got.iter().any(|a| a.contains("PortValue(3)")));
}

#[test]
fn server_listeners_are_made_on_demand() {
    let snapshot = Snapshot::build(
        &MeshConfig::default(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    let name = format!("{}[::1]:50051", type_url::SERVER_LISTENER_PREFIX);
    let l: Listener = decode(&snapshot, type_url::LISTENER, &name);
    assert_eq!(l.name, name);
    assert!(l.default_filter_chain.is_some());
    assert!(
        snapshot
            .server_listener(type_url::SERVER_LISTENER_PREFIX)
            .is_none()
    );
    assert!(
        snapshot
            .server_listener("grpc/server?xds.resource.listening_address=nope")
            .is_none()
    );
}

#[test]
fn server_listeners_of_endpoints_are_encoded_once_per_snapshot() {
    let registered = registered(&[("serviceb.demo:50051", "[::1]:7")]);
    let config = with_tls(TlsMode::Strict, &[]);
    let snapshot = Snapshot::build(&config, &registered, &BuildSettings::default());
    let name = format!("{}[::1]:7", type_url::SERVER_LISTENER_PREFIX);
    let first = snapshot.server_listener(&name).unwrap();
    let again = snapshot.server_listener(&name).unwrap();
    assert!(matches!(first, Cow::Borrowed(_)));
    assert!(std::ptr::eq(first.as_ref(), again.as_ref()));
    assert_eq!(inbound_mode(&snapshot, "[::1]:7"), InboundTls::Strict);
    // Another spelling of the address gets the same policy under the name it asked for.
    let other = format!("{}[0:0::1]:7", type_url::SERVER_LISTENER_PREFIX);
    let l: Listener = decode(&snapshot, type_url::LISTENER, &other);
    assert_eq!(l.name, other);
    assert_eq!(inbound_mode(&snapshot, "[0:0::1]:7"), InboundTls::Strict);
    // The cache is no part of the content.
    let fresh = Snapshot::build(&config, &registered, &BuildSettings::default());
    assert!(snapshot.same_content(&fresh));
}

#[test]
fn same_input_same_content() {
    let registered = registered(&[("serviceb:50051", "127.0.0.1:1")]);
    let a = Snapshot::build(&one_service(), &registered, &BuildSettings::default());
    let b = Snapshot::build(&one_service(), &registered, &BuildSettings::default()).with_version(7);
    assert!(a.same_content(&b));
    assert!(!a.same_content(&Snapshot::build(
        &one_service(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default()
    )));
}

#[test]
fn withheld_empty_assignments_are_left_out() {
    // Port 50051 has a static endpoint, port 8080 has none.
    let empty_port = crate::names::cluster_name(&ServiceRef::new("demo", "serviceb"), 8080);
    let none = RegisteredEndpoints::default();
    let settings = BuildSettings {
        empty: EmptyAssignments::Withhold,
        ..BuildSettings::default()
    };
    let withheld = Snapshot::build(&one_service(), &none, &settings);
    assert!(
        withheld
            .get(type_url::CLUSTER_LOAD_ASSIGNMENT, &empty_port)
            .is_none()
    );
    assert!(withheld.get(type_url::CLUSTER, &empty_port).is_some());
    assert!(
        withheld
            .get(type_url::CLUSTER_LOAD_ASSIGNMENT, CLUSTER_B)
            .is_some()
    );
    let sent = Snapshot::build(&one_service(), &none, &BuildSettings::default());
    assert!(
        sent.get(type_url::CLUSTER_LOAD_ASSIGNMENT, &empty_port)
            .is_some()
    );
}

#[test]
fn ten_thousand_registered_endpoints() {
    let mut endpoints = RegisteredEndpoints::default();
    for i in 0..10_000u32 {
        let [_, _, hi, lo] = i.to_be_bytes();
        endpoints.add(&Registration {
            service: "serviceb.demo:50051".into(),
            address: format!("10.1.{hi}.{lo}:50051").parse().unwrap(),
        });
    }
    let snapshot = Snapshot::build(&one_service(), &endpoints, &BuildSettings::default());
    let cla: ClusterLoadAssignment =
        decode(&snapshot, type_url::CLUSTER_LOAD_ASSIGNMENT, CLUSTER_B);
    assert_eq!(cla.endpoints[0].lb_endpoints.len(), 10_001);
}

/// [`one_service`] with the given mTLS settings.
pub(crate) fn with_tls(mode: TlsMode, service_accounts: &[&str]) -> MeshConfig {
    let mut config = one_service();
    for service in config.services.values_mut() {
        service.tls = ServiceTls {
            mode,
            service_accounts: service_accounts.iter().map(|a| a.to_string()).collect(),
        };
    }
    config
}

fn cluster_tls(config: &MeshConfig, settings: &BuildSettings) -> Option<UpstreamTls> {
    let snapshot = Snapshot::build(config, &RegisteredEndpoints::default(), settings);
    let proto: Cluster = decode(&snapshot, type_url::CLUSTER, CLUSTER_B);
    mesh_core::xds::decode::cluster(&proto).unwrap().tls
}

#[test]
fn clusters_speak_mtls_unless_disabled() {
    let defaults = BuildSettings::default();
    let any_of_the_namespace = UpstreamTls {
        peer_ids: vec![StringMatch::Prefix(
            "spiffe://cluster.local/ns/demo/sa/".into(),
        )],
    };
    assert_eq!(
        cluster_tls(&with_tls(TlsMode::Permissive, &[]), &defaults),
        Some(any_of_the_namespace.clone())
    );
    assert_eq!(
        cluster_tls(&with_tls(TlsMode::Strict, &[]), &defaults),
        Some(any_of_the_namespace)
    );
    assert_eq!(
        cluster_tls(&with_tls(TlsMode::Disable, &["b"]), &defaults),
        None
    );
}

#[test]
fn listed_service_accounts_are_the_only_identities_accepted() {
    let settings = BuildSettings::new(TrustDomain::new("example.org").unwrap());
    let got = cluster_tls(&with_tls(TlsMode::Strict, &["b1", "b2"]), &settings);
    assert_eq!(
        got.unwrap().peer_ids,
        [
            StringMatch::Exact("spiffe://example.org/ns/demo/sa/b1".into()),
            StringMatch::Exact("spiffe://example.org/ns/demo/sa/b2".into()),
        ]
    );
}

/// The mode of the server listener of `address` in `snapshot`.
pub(crate) fn inbound_mode(snapshot: &Snapshot, address: &str) -> InboundTls {
    let name = format!("{}{address}", type_url::SERVER_LISTENER_PREFIX);
    let proto: Listener = decode(snapshot, type_url::LISTENER, &name);
    match mesh_core::xds::decode::listener(&proto).unwrap() {
        mesh_core::model::Listener::Server(l) => l.tls,
        other => panic!("not a server listener: {other:?}"),
    }
}

#[test]
fn server_listeners_take_the_mode_of_their_services() {
    let registered = registered(&[("serviceb.demo:50051", "127.0.0.1:7")]);
    let cases = [
        (TlsMode::Strict, InboundTls::Strict),
        (TlsMode::Permissive, InboundTls::Permissive),
        (TlsMode::Disable, InboundTls::Plaintext),
    ];
    for (mode, expected) in cases {
        let snapshot =
            Snapshot::build(&with_tls(mode, &[]), &registered, &BuildSettings::default());
        assert_eq!(inbound_mode(&snapshot, "127.0.0.1:7"), expected, "{mode:?}");
        // The static endpoint of the same Service.
        assert_eq!(
            inbound_mode(&snapshot, "10.0.0.1:50051"),
            expected,
            "{mode:?}"
        );
        // An address no Service has.
        assert_eq!(
            inbound_mode(&snapshot, "127.0.0.1:8"),
            InboundTls::Permissive
        );
    }
}

#[test]
fn an_address_serving_several_services_takes_the_strictest_mode() {
    let mut config = with_tls(TlsMode::Disable, &[]);
    let other = ServiceRef::new("demo", "servicec");
    config.services.insert(
        other.clone(),
        ServiceConfig {
            service: other,
            ports: vec![port(9090, vec![])],
            tls: ServiceTls {
                mode: TlsMode::Strict,
                service_accounts: vec![],
            },
            policy: Default::default(),
            authorization: None,
            rate_limit: None,
        },
    );
    let registered = registered(&[
        ("serviceb.demo:50051", "127.0.0.1:7"),
        ("servicec.demo:9090", "127.0.0.1:7"),
        ("serviceb.demo:50051", "127.0.0.1:8"),
    ]);
    let snapshot = Snapshot::build(&config, &registered, &BuildSettings::default());
    assert_eq!(inbound_mode(&snapshot, "127.0.0.1:7"), InboundTls::Strict);
    assert_eq!(
        inbound_mode(&snapshot, "127.0.0.1:8"),
        InboundTls::Plaintext
    );
}
