//! Cluster: EDS over ADS, the balancer (see `lb`), the breaker, outlier detection and retry
//! budget (see `cluster_policy`), the upstream protocol, and mTLS to the endpoints.

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster,
    cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig},
};
use envoy_types::pb::envoy::config::core::v3::Http2ProtocolOptions;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{
        ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
    },
};
use envoy_types::pb::google::protobuf::Struct;

use super::cluster_policy::{circuit_breakers, metadata, outlier_detection};
use super::lb::load_balancing_policy;
use super::{ads_config_source, stable_map, tls, to_any};
use crate::model::{self, UpstreamProtocol};
use crate::xds::type_url;

/// The `typed_extension_protocol_options` key of the upstream HTTP options.
pub(crate) const HTTP_PROTOCOL_OPTIONS: &str =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// `xds.type.v3.TypedStruct`: an extension config given as a type URL and a JSON-like struct.
///
/// envoy-types does not generate it, and our balancer config is carried in one.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypedStruct {
    /// The type URL of the config this struct stands for.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The config's fields.
    #[prost(message, optional, tag = "2")]
    pub value: Option<Struct>,
}

impl prost::Name for TypedStruct {
    const NAME: &'static str = "TypedStruct";
    const PACKAGE: &'static str = "xds.type.v3";

    fn type_url() -> String {
        type_url::TYPED_STRUCT.to_string()
    }
}

/// Encodes a Cluster.
pub fn cluster(cluster: &model::Cluster) -> Cluster {
    let policy = &cluster.policy;
    let protocol_options = stable_map(
        (cluster.protocol == UpstreamProtocol::Http2)
            .then(|| (HTTP_PROTOCOL_OPTIONS.to_string(), to_any(&http2_options()))),
    );
    Cluster {
        name: cluster.name.clone(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        eds_cluster_config: Some(EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: cluster.eds_service_name.clone(),
        }),
        load_balancing_policy: Some(load_balancing_policy(policy.lb)),
        circuit_breakers: Some(circuit_breakers(policy.circuit_breaker)),
        outlier_detection: policy.outlier_detection.as_ref().map(outlier_detection),
        metadata: Some(metadata(policy.retry_budget)),
        typed_extension_protocol_options: protocol_options,
        transport_socket: cluster.tls.as_ref().map(|tls| tls::upstream(&tls.peer_ids)),
        ..Default::default()
    }
}

fn http2_options() -> HttpProtocolOptions {
    HttpProtocolOptions {
        upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
            ExplicitHttpConfig {
                protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                    Http2ProtocolOptions::default(),
                )),
            },
        )),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::envoy::config::core::v3::config_source::ConfigSourceSpecifier;
    use prost::Message;

    use super::*;

    fn model(protocol: UpstreamProtocol) -> model::Cluster {
        model::Cluster {
            name: "c".into(),
            eds_service_name: "c-eds".into(),
            policy: Default::default(),
            protocol,
            tls: None,
        }
    }

    #[test]
    fn eds_over_ads_with_the_policy() {
        let c = cluster(&model(UpstreamProtocol::Http1));
        assert_eq!(c.name, "c");
        assert_eq!(
            c.cluster_discovery_type,
            Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32))
        );
        let eds = c.eds_cluster_config.unwrap();
        assert_eq!(eds.service_name, "c-eds");
        assert!(matches!(
            eds.eds_config.unwrap().config_source_specifier,
            Some(ConfigSourceSpecifier::Ads(_))
        ));
        let policy = model(UpstreamProtocol::Http1).policy;
        assert_eq!(
            c.load_balancing_policy,
            Some(load_balancing_policy(policy.lb))
        );
        assert_eq!(
            c.circuit_breakers,
            Some(circuit_breakers(policy.circuit_breaker))
        );
        assert_eq!(c.outlier_detection, None);
        assert_eq!(c.metadata, Some(metadata(policy.retry_budget)));
        assert!(c.typed_extension_protocol_options.is_empty());
    }

    #[test]
    fn equal_clusters_encode_to_equal_bytes() {
        let bytes = || cluster(&model(UpstreamProtocol::Http2)).encode_to_vec();
        let first = bytes();
        for _ in 0..20 {
            assert_eq!(
                bytes(),
                first,
                "mesh-control compares resources by encoding"
            );
        }
    }

    #[test]
    fn http2_cluster_says_so() {
        let c = cluster(&model(UpstreamProtocol::Http2));
        let any = &c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS];
        let options = HttpProtocolOptions::decode(any.value.as_slice()).unwrap();
        assert_eq!(options, http2_options());
    }
}
