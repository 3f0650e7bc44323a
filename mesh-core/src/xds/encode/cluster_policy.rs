//! A cluster's circuit breaker (gRFC A32), outlier detection (gRFC A50) and retry budget.
//!
//! Outlier detection turns each algorithm off the way A50 says: `enforcing_success_rate: 0`,
//! `enforcing_failure_percentage: 0`, and (for Envoy's consecutive 5xx, on by default once the
//! message is present) `enforcing_consecutive_5xx: 0`. xDS has no retry budget gRPC reads, so
//! ours is in the cluster's `filter_metadata["mesh.dev"]` as
//! `{"retryBudget": {"ratio": 0.2, "minRetriesPerSecond": 10, "ttlSeconds": 10.0}}`.

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, OutlierDetection, circuit_breakers::Thresholds,
};
use envoy_types::pb::envoy::config::core::v3::{Metadata, RoutingPriority};
use envoy_types::pb::google::protobuf::{Struct, UInt32Value, Value, value::Kind};

use super::{duration, stable_map};
use crate::model::{self, CircuitBreaker, RetryBudget};

/// The `filter_metadata` key of our own cluster settings.
pub(crate) const MESH_METADATA: &str = "mesh.dev";
/// The key of the retry budget in [`MESH_METADATA`].
pub(crate) const RETRY_BUDGET: &str = "retryBudget";
/// The budget's [`RetryBudget::ratio`].
pub(crate) const BUDGET_RATIO: &str = "ratio";
/// The budget's [`RetryBudget::min_per_second`].
pub(crate) const BUDGET_MIN_PER_SECOND: &str = "minRetriesPerSecond";
/// The budget's [`RetryBudget::ttl`], in seconds.
pub(crate) const BUDGET_TTL_SECONDS: &str = "ttlSeconds";

/// The breaker as the `DEFAULT` priority's thresholds.
pub(super) fn circuit_breakers(breaker: CircuitBreaker) -> CircuitBreakers {
    CircuitBreakers {
        thresholds: vec![Thresholds {
            priority: RoutingPriority::Default as i32,
            max_requests: Some(UInt32Value {
                value: breaker.max_requests,
            }),
            max_pending_requests: Some(UInt32Value {
                value: breaker.max_pending,
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Outlier detection with every field explicit.
pub(super) fn outlier_detection(od: &model::OutlierDetection) -> OutlierDetection {
    let u32_value = |value| Some(UInt32Value { value });
    let success = od.success_rate;
    let failure = od.failure_percentage;
    OutlierDetection {
        interval: Some(duration(od.interval)),
        base_ejection_time: Some(duration(od.base_ejection_time)),
        max_ejection_time: Some(duration(od.max_ejection_time)),
        max_ejection_percent: u32_value(od.max_ejection_percent),
        consecutive_5xx: od.consecutive_failures.and_then(u32_value),
        enforcing_consecutive_5xx: u32_value(if od.consecutive_failures.is_some() {
            100
        } else {
            0
        }),
        enforcing_success_rate: u32_value(success.map_or(0, |s| s.enforcing_percent)),
        success_rate_stdev_factor: success
            .and_then(|s| u32_value((s.stdev_factor * 1000.0).round() as u32)),
        success_rate_minimum_hosts: success.and_then(|s| u32_value(s.minimum_hosts)),
        success_rate_request_volume: success.and_then(|s| u32_value(s.request_volume)),
        enforcing_failure_percentage: u32_value(failure.map_or(0, |f| f.enforcing_percent)),
        failure_percentage_threshold: failure.and_then(|f| u32_value(f.threshold)),
        failure_percentage_minimum_hosts: failure.and_then(|f| u32_value(f.minimum_hosts)),
        failure_percentage_request_volume: failure.and_then(|f| u32_value(f.request_volume)),
        ..Default::default()
    }
}

/// The cluster metadata holding the retry budget.
pub(super) fn metadata(budget: RetryBudget) -> Metadata {
    let number = |key: &str, number| {
        let kind = Some(Kind::NumberValue(number));
        (key.to_string(), Value { kind })
    };
    let fields = stable_map([
        number(BUDGET_RATIO, budget.ratio),
        number(BUDGET_MIN_PER_SECOND, f64::from(budget.min_per_second)),
        number(BUDGET_TTL_SECONDS, budget.ttl.as_secs_f64()),
    ]);
    let budget = Value {
        kind: Some(Kind::StructValue(Struct { fields })),
    };
    let mesh = Struct {
        fields: stable_map([(RETRY_BUDGET.to_string(), budget)]),
    };
    Metadata {
        filter_metadata: stable_map([(MESH_METADATA.to_string(), mesh)]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message;
    use serde_json::json;

    use super::*;
    use crate::model::{FailurePercentageEjection, SuccessRateEjection};
    use crate::xds::json::struct_to_json;

    fn detection() -> model::OutlierDetection {
        model::OutlierDetection {
            interval: Duration::from_secs(1),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 34,
            consecutive_failures: None,
            success_rate: None,
            failure_percentage: None,
        }
    }

    #[test]
    fn breaker_is_the_default_priority_threshold() {
        let cb = circuit_breakers(CircuitBreaker {
            max_requests: 100,
            max_pending: 10,
        });
        let [t] = cb.thresholds.as_slice() else {
            panic!("expected one threshold");
        };
        assert_eq!(t.priority, RoutingPriority::Default as i32);
        assert_eq!(t.max_requests, Some(UInt32Value { value: 100 }));
        assert_eq!(t.max_pending_requests, Some(UInt32Value { value: 10 }));
    }

    #[test]
    fn algorithms_that_are_off_say_so() {
        let od = outlier_detection(&detection());
        let zero = Some(UInt32Value { value: 0 });
        assert_eq!(od.enforcing_consecutive_5xx, zero);
        assert_eq!(od.enforcing_success_rate, zero);
        assert_eq!(od.enforcing_failure_percentage, zero);
        assert_eq!(od.consecutive_5xx, None);
        assert_eq!(od.max_ejection_percent, Some(UInt32Value { value: 34 }));
        assert_eq!(od.interval.unwrap().seconds, 1);
    }

    #[test]
    fn algorithms_that_are_on_carry_their_settings() {
        let od = outlier_detection(&model::OutlierDetection {
            consecutive_failures: Some(5),
            success_rate: Some(SuccessRateEjection {
                stdev_factor: 1.9,
                enforcing_percent: 100,
                minimum_hosts: 5,
                request_volume: 100,
            }),
            failure_percentage: Some(FailurePercentageEjection {
                threshold: 85,
                enforcing_percent: 50,
                minimum_hosts: 3,
                request_volume: 50,
            }),
            ..detection()
        });
        let v = |value| Some(UInt32Value { value });
        assert_eq!(od.consecutive_5xx, v(5));
        assert_eq!(od.enforcing_consecutive_5xx, v(100));
        assert_eq!(od.success_rate_stdev_factor, v(1900));
        assert_eq!(od.enforcing_success_rate, v(100));
        assert_eq!(od.failure_percentage_threshold, v(85));
        assert_eq!(od.enforcing_failure_percentage, v(50));
        assert_eq!(od.failure_percentage_minimum_hosts, v(3));
    }

    #[test]
    fn equal_budgets_encode_to_equal_bytes() {
        let bytes = || metadata(RetryBudget::default()).encode_to_vec();
        let first = bytes();
        for _ in 0..20 {
            assert_eq!(bytes(), first);
        }
    }

    #[test]
    fn retry_budget_is_mesh_metadata() {
        let m = metadata(RetryBudget {
            ratio: 0.2,
            min_per_second: 10,
            ttl: Duration::from_millis(1500),
        });
        assert_eq!(
            serde_json::Value::Object(struct_to_json(&m.filter_metadata[MESH_METADATA])),
            json!({"retryBudget": {"ratio": 0.2, "minRetriesPerSecond": 10, "ttlSeconds": 1.5}})
        );
    }
}
