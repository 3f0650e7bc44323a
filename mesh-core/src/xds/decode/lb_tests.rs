use envoy_types::pb::envoy::config::cluster::v3::{
    LoadBalancingPolicy, load_balancing_policy::Policy,
};
use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::extensions::load_balancing_policies::round_robin::v3::RoundRobin;

use super::*;
use crate::xds::decode::fixtures::{any, eds_cluster};

fn with_policies(configs: Vec<Any>) -> Cluster {
    let mut c = eds_cluster("c");
    c.load_balancing_policy = Some(LoadBalancingPolicy {
        policies: configs
            .into_iter()
            .map(|a| Policy {
                typed_extension_config: Some(TypedExtensionConfig {
                    name: "p".into(),
                    typed_config: Some(a),
                }),
            })
            .collect(),
    });
    c
}

fn decode(c: &Cluster) -> Result<LbPolicy, DecodeError> {
    lb_policy(
        Context {
            kind: "Cluster",
            resource: "c",
        },
        c,
    )
}

fn typed_struct(inner: &str) -> Any {
    any(
        type_url::TYPED_STRUCT,
        &TypedStruct {
            type_url: inner.into(),
            value: None,
        },
    )
}

fn round_robin() -> Any {
    any(type_url::ROUND_ROBIN, &RoundRobin::default())
}

fn ring(min: Option<u64>, max: Option<u64>, hash: HashFunction) -> Any {
    any(
        type_url::RING_HASH,
        &RingHash {
            hash_function: hash as i32,
            minimum_ring_size: min.map(|value| UInt64Value { value }),
            maximum_ring_size: max.map(|value| UInt64Value { value }),
            ..Default::default()
        },
    )
}

fn least(choices: Option<u32>) -> Any {
    any(
        type_url::LEAST_REQUEST,
        &LeastRequest {
            choice_count: choices.map(|value| UInt32Value { value }),
            ..Default::default()
        },
    )
}

#[test]
fn first_supported_policy_wins() {
    let unknown = typed_struct("type.googleapis.com/other.Balancer");
    let cases = [
        (typed_struct(type_url::P2C_PEAK_EWMA), LbPolicy::P2cPeakEwma),
        (round_robin(), LbPolicy::RoundRobin),
        (least(None), LbPolicy::P2cLeastRequest),
        (
            ring(Some(10), Some(20), HashFunction::XxHash),
            LbPolicy::RingHash {
                min_ring_size: 10,
                max_ring_size: 20,
            },
        ),
    ];
    for (first_known, expected) in cases {
        let c = with_policies(vec![unknown.clone(), first_known, round_robin()]);
        assert_eq!(decode(&c).unwrap(), expected);
    }
    let err = decode(&with_policies(vec![unknown])).unwrap_err();
    assert_eq!(err.field, "load_balancing_policy.policies");
    assert!(
        err.reason.contains("other.Balancer"),
        "names what it found: {err}"
    );
}

#[test]
fn ring_hash_sizes_follow_grpc() {
    let decoded = |min, max| {
        decode(&with_policies(vec![ring(
            min,
            max,
            HashFunction::DefaultHash,
        )]))
    };
    assert_eq!(
        decoded(None, Some(0)).unwrap(),
        LbPolicy::RingHash {
            min_ring_size: 1024,
            max_ring_size: MAX_RING_SIZE_LIMIT,
        },
        "unset or zero sizes take the defaults"
    );
    let field = "load_balancing_policy.policies[0].typed_extension_config.typed_config";
    let err = decoded(Some(MAX_RING_SIZE_LIMIT + 1), None).unwrap_err();
    assert_eq!(err.field, format!("{field}.minimum_ring_size"));
    let err = decoded(None, Some(MAX_RING_SIZE_LIMIT + 1)).unwrap_err();
    assert_eq!(err.field, format!("{field}.maximum_ring_size"));
    let err = decoded(Some(4096), Some(1024)).unwrap_err();
    assert_eq!(err.field, format!("{field}.minimum_ring_size"));
    assert!(err.reason.contains("over maximum_ring_size"), "{err}");
    assert!(decoded(Some(4096), Some(4096)).is_ok());
}

#[test]
fn ring_hash_needs_xx_hash_even_with_a_fallback() {
    let c = with_policies(vec![
        ring(None, None, HashFunction::MurmurHash2),
        round_robin(),
    ]);
    let err = decode(&c).unwrap_err();
    assert!(err.field.ends_with(".hash_function"), "{err}");
}

#[test]
fn least_request_needs_two_choices() {
    assert_eq!(
        decode(&with_policies(vec![least(Some(5))])).unwrap(),
        LbPolicy::P2cLeastRequest
    );
    let err = decode(&with_policies(vec![least(Some(1))])).unwrap_err();
    assert!(err.field.ends_with(".choice_count"), "{err}");
}

#[test]
fn legacy_lb_policy_means_what_it_says() {
    let mut c = eds_cluster("c");
    assert_eq!(
        decode(&c).unwrap(),
        LbPolicy::RoundRobin,
        "ROUND_ROBIN is the proto default"
    );

    c.lb_policy = cluster::LbPolicy::LeastRequest as i32;
    assert_eq!(decode(&c).unwrap(), LbPolicy::P2cLeastRequest);
    c.lb_config = Some(cluster::LbConfig::LeastRequestLbConfig(
        cluster::LeastRequestLbConfig {
            choice_count: Some(UInt32Value { value: 0 }),
            ..Default::default()
        },
    ));
    assert_eq!(
        decode(&c).unwrap_err().field,
        "least_request_lb_config.choice_count"
    );

    c.lb_policy = cluster::LbPolicy::RingHash as i32;
    c.lb_config = None;
    assert_eq!(
        decode(&c).unwrap(),
        LbPolicy::RingHash {
            min_ring_size: 1024,
            max_ring_size: MAX_RING_SIZE_LIMIT
        }
    );
    let config = |min, hash_function| {
        Some(cluster::LbConfig::RingHashLbConfig(
            cluster::RingHashLbConfig {
                minimum_ring_size: Some(UInt64Value { value: min }),
                hash_function,
                maximum_ring_size: Some(UInt64Value { value: 2048 }),
            },
        ))
    };
    c.lb_config = config(100, 0);
    assert_eq!(
        decode(&c).unwrap(),
        LbPolicy::RingHash {
            min_ring_size: 100,
            max_ring_size: 2048
        }
    );
    c.lb_config = config(4096, 0);
    assert_eq!(
        decode(&c).unwrap_err().field,
        "ring_hash_lb_config.minimum_ring_size"
    );
    c.lb_config = config(100, 1);
    assert_eq!(
        decode(&c).unwrap_err().field,
        "ring_hash_lb_config.hash_function"
    );

    c.lb_policy = cluster::LbPolicy::Maglev as i32;
    let err = decode(&c).unwrap_err();
    assert_eq!(err.field, "lb_policy");
    assert!(err.reason.contains("MAGLEV"), "{err}");
}
