use envoy_types::pb::envoy::config::core::v3::{
    ConfigSource, Http2ProtocolOptions, config_source::ConfigSourceSpecifier,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::http_protocol_options::ExplicitHttpConfig;

use super::*;
use crate::xds::decode::fixtures::{any, eds_cluster, mtls_context, tls_socket};
use crate::xds::encode;

/// A bare EDS cluster, as another xDS server sends it: legacy `lb_policy` ROUND_ROBIN (the
/// proto default) means round robin; the rest of the policy takes the defaults.
#[test]
fn eds_cluster_defaults() {
    let got = cluster(&eds_cluster("c")).unwrap();
    assert_eq!(
        got,
        model::Cluster {
            name: "c".into(),
            eds_service_name: "c".into(),
            policy: model::ClusterPolicy {
                lb: model::LbPolicy::RoundRobin,
                ..Default::default()
            },
            protocol: UpstreamProtocol::Http1,
            tls: None,
        }
    );
}

#[test]
fn round_trips_what_mesh_control_encodes() {
    for protocol in [UpstreamProtocol::Http1, UpstreamProtocol::Http2] {
        let original = model::Cluster {
            name: "serviceb.demo.svc.cluster.local:50051".into(),
            eds_service_name: "eds-name".into(),
            policy: Default::default(),
            protocol,
            tls: None,
        };
        assert_eq!(cluster(&encode::cluster(&original)).unwrap(), original);
    }
}

#[test]
fn only_eds_over_ads_is_supported() {
    let mut c = eds_cluster("c");
    c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
        cluster::DiscoveryType::StrictDns as i32,
    ));
    let err = cluster(&c).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.reason.contains("STRICT_DNS")),
        ("type", true),
        "{err}"
    );
    c.cluster_discovery_type = None;
    assert_eq!(cluster(&c).unwrap_err().field, "type");

    let mut c = eds_cluster("c");
    c.eds_cluster_config = None;
    assert_eq!(cluster(&c).unwrap_err().field, "eds_cluster_config");
    let mut c = eds_cluster("c");
    c.eds_cluster_config.as_mut().unwrap().eds_config = Some(ConfigSource {
        config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(Default::default())),
        ..Default::default()
    });
    assert_eq!(
        cluster(&c).unwrap_err().field,
        "eds_cluster_config.eds_config"
    );
}

#[test]
fn service_name_is_kept() {
    let mut c = eds_cluster("c");
    c.eds_cluster_config.as_mut().unwrap().service_name = "c-eds".into();
    assert_eq!(cluster(&c).unwrap().eds_service_name, "c-eds");
}

#[test]
fn protocol_options() {
    let mut c = eds_cluster("c");
    let http2 = HttpProtocolOptions {
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                    Http2ProtocolOptions::default(),
                )),
            },
        )),
        ..Default::default()
    };
    let url = format!("type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}");
    c.typed_extension_protocol_options
        .insert(HTTP_PROTOCOL_OPTIONS.into(), any(&url, &http2));
    assert_eq!(cluster(&c).unwrap().protocol, UpstreamProtocol::Http2);
    c.typed_extension_protocol_options.insert(
        HTTP_PROTOCOL_OPTIONS.into(),
        any(&url, &HttpProtocolOptions::default()),
    );
    assert_eq!(cluster(&c).unwrap().protocol, UpstreamProtocol::Http1);
    c.typed_extension_protocol_options.insert(
        HTTP_PROTOCOL_OPTIONS.into(),
        any("type.googleapis.com/Wrong", &http2),
    );
    assert!(
        cluster(&c)
            .unwrap_err()
            .field
            .starts_with("typed_extension_protocol_options")
    );
}

#[test]
fn a_tls_transport_socket_means_mtls() {
    let mut c = eds_cluster("c");
    c.transport_socket = Some(tls_socket(&UpstreamTlsContext {
        common_tls_context: Some(mtls_context(&["spiffe://td/ns/a/sa/b"])),
        ..Default::default()
    }));
    let got = cluster(&c).unwrap();
    assert_eq!(
        got.tls,
        Some(model::UpstreamTls {
            peer_ids: vec![model::StringMatch::Exact("spiffe://td/ns/a/sa/b".into())],
        })
    );
}

#[test]
fn tls_that_cannot_be_honoured_is_an_error() {
    let mut c = eds_cluster("c");
    c.transport_socket = Some(tls_socket(&UpstreamTlsContext::default()));
    let err = cluster(&c).unwrap_err();
    assert_eq!(
        err.field,
        "transport_socket.typed_config.common_tls_context"
    );
    assert!(err.to_string().starts_with("Cluster \"c\": "), "{err}");

    let mut c = eds_cluster("c");
    c.transport_socket_matches = vec![Default::default()];
    assert_eq!(cluster(&c).unwrap_err().field, "transport_socket_matches");
}
