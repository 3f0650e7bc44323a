//! A cluster's balancer as a `load_balancing_policy` list (gRFC A52): the policy first, then
//! `round_robin` for clients that do not know it (gRPC takes the first entry it supports).
//!
//! P2C peak-EWMA is our own policy, in a `TypedStruct`; P2C least-request is `least_request`
//! with two choices (gRFC A48); ring hash is `ring_hash` with xxHash (gRFC A42); round robin is
//! `round_robin` alone.

use envoy_types::pb::envoy::config::cluster::v3::{
    LoadBalancingPolicy, load_balancing_policy::Policy,
};
use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::extensions::load_balancing_policies::{
    least_request::v3::LeastRequest,
    ring_hash::v3::{RingHash, ring_hash::HashFunction},
    round_robin::v3::RoundRobin,
};
use envoy_types::pb::google::protobuf::{UInt32Value, UInt64Value};

use super::{TypedStruct, to_any};
use crate::model::LbPolicy;
use crate::xds::type_url;

/// The extension name of our P2C peak-EWMA balancer in `load_balancing_policy`.
const P2C_PEAK_EWMA_POLICY: &str = "mesh.p2c_peak_ewma";
/// The extension name of `round_robin`.
const ROUND_ROBIN_POLICY: &str = "envoy.load_balancing_policies.round_robin";
/// The extension name of `least_request`.
const LEAST_REQUEST_POLICY: &str = "envoy.load_balancing_policies.least_request";
/// The extension name of `ring_hash`.
const RING_HASH_POLICY: &str = "envoy.load_balancing_policies.ring_hash";

/// The policy list for `policy`.
pub(super) fn load_balancing_policy(policy: LbPolicy) -> LoadBalancingPolicy {
    let round_robin = TypedExtensionConfig {
        name: ROUND_ROBIN_POLICY.into(),
        typed_config: Some(to_any(&RoundRobin::default())),
    };
    let first = match policy {
        LbPolicy::P2cPeakEwma => TypedExtensionConfig {
            name: P2C_PEAK_EWMA_POLICY.into(),
            typed_config: Some(to_any(&TypedStruct {
                type_url: type_url::P2C_PEAK_EWMA.into(),
                value: None,
            })),
        },
        LbPolicy::P2cLeastRequest => TypedExtensionConfig {
            name: LEAST_REQUEST_POLICY.into(),
            typed_config: Some(to_any(&LeastRequest {
                choice_count: Some(UInt32Value { value: 2 }),
                ..Default::default()
            })),
        },
        LbPolicy::RingHash {
            min_ring_size,
            max_ring_size,
        } => TypedExtensionConfig {
            name: RING_HASH_POLICY.into(),
            typed_config: Some(to_any(&RingHash {
                hash_function: HashFunction::XxHash as i32,
                minimum_ring_size: Some(UInt64Value {
                    value: min_ring_size,
                }),
                maximum_ring_size: Some(UInt64Value {
                    value: max_ring_size,
                }),
                ..Default::default()
            })),
        },
        LbPolicy::RoundRobin => round_robin.clone(),
    };
    let policies = if policy == LbPolicy::RoundRobin {
        vec![first]
    } else {
        vec![first, round_robin]
    };
    LoadBalancingPolicy {
        policies: policies
            .into_iter()
            .map(|config| Policy {
                typed_extension_config: Some(config),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// The (name, type URL) of each entry, and the first entry's config.
    fn entries(policy: LbPolicy) -> (Vec<(String, String)>, Vec<u8>) {
        let list = load_balancing_policy(policy);
        let configs: Vec<_> = list
            .policies
            .into_iter()
            .map(|p| p.typed_extension_config.unwrap())
            .collect();
        let first = configs[0].typed_config.clone().unwrap().value;
        let names = configs
            .into_iter()
            .map(|c| (c.name, c.typed_config.unwrap().type_url))
            .collect();
        (names, first)
    }

    fn rr() -> (String, String) {
        (ROUND_ROBIN_POLICY.into(), type_url::ROUND_ROBIN.into())
    }

    #[test]
    fn p2c_peak_ewma_is_our_typed_struct_then_round_robin() {
        let (names, first) = entries(LbPolicy::P2cPeakEwma);
        assert_eq!(
            names,
            [
                (P2C_PEAK_EWMA_POLICY.into(), type_url::TYPED_STRUCT.into()),
                rr()
            ]
        );
        let ts = TypedStruct::decode(first.as_slice()).unwrap();
        assert_eq!(ts.type_url, type_url::P2C_PEAK_EWMA);
    }

    #[test]
    fn least_request_has_two_choices_then_round_robin() {
        let (names, first) = entries(LbPolicy::P2cLeastRequest);
        assert_eq!(
            names,
            [
                (LEAST_REQUEST_POLICY.into(), type_url::LEAST_REQUEST.into()),
                rr()
            ]
        );
        let lr = LeastRequest::decode(first.as_slice()).unwrap();
        assert_eq!(lr.choice_count, Some(UInt32Value { value: 2 }));
    }

    #[test]
    fn ring_hash_uses_xx_hash_and_the_sizes() {
        let (names, first) = entries(LbPolicy::RingHash {
            min_ring_size: 1024,
            max_ring_size: 4096,
        });
        assert_eq!(
            names,
            [(RING_HASH_POLICY.into(), type_url::RING_HASH.into()), rr()]
        );
        let rh = RingHash::decode(first.as_slice()).unwrap();
        assert_eq!(rh.hash_function, HashFunction::XxHash as i32);
        assert_eq!(rh.minimum_ring_size, Some(UInt64Value { value: 1024 }));
        assert_eq!(rh.maximum_ring_size, Some(UInt64Value { value: 4096 }));
    }

    #[test]
    fn round_robin_is_alone() {
        assert_eq!(entries(LbPolicy::RoundRobin).0, [rr()]);
    }
}
