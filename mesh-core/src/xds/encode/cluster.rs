//! Cluster: EDS over ADS, our balancer with a `round_robin` fallback, the upstream protocol,
//! and mTLS to the endpoints.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, LoadBalancingPolicy,
    cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig},
    load_balancing_policy::Policy,
};
use envoy_types::pb::envoy::config::core::v3::{Http2ProtocolOptions, TypedExtensionConfig};
use envoy_types::pb::envoy::extensions::load_balancing_policies::round_robin::v3::RoundRobin;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{
        ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
    },
};
use envoy_types::pb::google::protobuf::Struct;

use super::{ads_config_source, tls, to_any};
use crate::model::{self, LbPolicy, UpstreamProtocol};
use crate::xds::type_url;

/// The extension name of our P2C peak-EWMA balancer in `load_balancing_policy`.
pub(crate) const P2C_PEAK_EWMA_POLICY: &str = "mesh.p2c_peak_ewma";
/// The extension name of the `round_robin` fallback.
const ROUND_ROBIN_POLICY: &str = "envoy.load_balancing_policies.round_robin";
/// The `typed_extension_protocol_options` key of the upstream HTTP options.
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

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
    let mut protocol_options = HashMap::new();
    if cluster.protocol == UpstreamProtocol::Http2 {
        protocol_options.insert(HTTP_PROTOCOL_OPTIONS.to_string(), to_any(&http2_options()));
    }
    Cluster {
        name: cluster.name.clone(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32)),
        eds_cluster_config: Some(EdsClusterConfig {
            eds_config: Some(ads_config_source()),
            service_name: cluster.eds_service_name.clone(),
        }),
        load_balancing_policy: Some(load_balancing_policy(cluster.policy.lb)),
        typed_extension_protocol_options: protocol_options,
        transport_socket: cluster.tls.as_ref().map(|tls| tls::upstream(&tls.peer_ids)),
        ..Default::default()
    }
}

/// Our policy first, then `round_robin` for clients that skip ours (gRFC A52).
fn load_balancing_policy(policy: LbPolicy) -> LoadBalancingPolicy {
    let ours = match policy {
        LbPolicy::P2cPeakEwma => TypedExtensionConfig {
            name: P2C_PEAK_EWMA_POLICY.into(),
            typed_config: Some(to_any(&TypedStruct {
                type_url: type_url::P2C_PEAK_EWMA.into(),
                value: None,
            })),
        },
        other => todo!("encode {other:?}"),
    };
    let fallback = TypedExtensionConfig {
        name: ROUND_ROBIN_POLICY.into(),
        typed_config: Some(to_any(&RoundRobin::default())),
    };
    LoadBalancingPolicy {
        policies: [ours, fallback]
            .into_iter()
            .map(|config| Policy {
                typed_extension_config: Some(config),
            })
            .collect(),
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
    fn eds_over_ads_with_our_policy_then_round_robin() {
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
        let policies: Vec<_> = c
            .load_balancing_policy
            .unwrap()
            .policies
            .into_iter()
            .map(|p| p.typed_extension_config.unwrap())
            .collect();
        assert_eq!(policies[0].name, P2C_PEAK_EWMA_POLICY);
        let any = policies[0].typed_config.as_ref().unwrap();
        assert_eq!(any.type_url, type_url::TYPED_STRUCT);
        let ts = TypedStruct::decode(any.value.as_slice()).unwrap();
        assert_eq!(ts.type_url, type_url::P2C_PEAK_EWMA);
        assert_eq!(policies[1].name, ROUND_ROBIN_POLICY);
        assert_eq!(
            policies[1].typed_config.as_ref().unwrap().type_url,
            type_url::ROUND_ROBIN
        );
        assert!(c.typed_extension_protocol_options.is_empty());
    }

    #[test]
    fn http2_cluster_says_so() {
        let c = cluster(&model(UpstreamProtocol::Http2));
        let any = &c.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS];
        let options = HttpProtocolOptions::decode(any.value.as_slice()).unwrap();
        assert_eq!(options, http2_options());
    }
}
