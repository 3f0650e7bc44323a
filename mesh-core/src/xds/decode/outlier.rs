//! `Cluster.outlier_detection` to [`model::OutlierDetection`] (gRFC A50, plus Envoy's
//! consecutive 5xx).
//!
//! Unset fields take xDS defaults. As A50 says: the durations must be valid and not negative
//! (`interval` also positive, or the evaluation would never pause); `max_ejection_percent`,
//! `failure_percentage_threshold` and every `enforcing_*` must be at most 100; an algorithm whose
//! `enforcing_*` is 0 is off. Success rate is on by default (`enforcing_success_rate` 100),
//! failure percentage off (`enforcing_failure_percentage` 0). Consecutive failures, which gRPC
//! ignores, follow Envoy: on by default with `consecutive_5xx` 5 and
//! `enforcing_consecutive_5xx` 100; any enforcement above 0 turns it on fully, and a count of 0
//! turns it off.

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::OutlierDetection;
use envoy_types::pb::google::protobuf::{Duration as ProtoDuration, UInt32Value};

use super::common::duration;
use super::error::{Context, DecodeError};
use crate::model::{self, FailurePercentageEjection, SuccessRateEjection};

/// Envoy's `consecutive_5xx` when unset.
const DEFAULT_CONSECUTIVE_5XX: u32 = 5;

/// Decodes `outlier_detection`.
pub(crate) fn outlier_detection(
    ctx: Context<'_>,
    proto: &OutlierDetection,
) -> Result<model::OutlierDetection, DecodeError> {
    let defaults = model::OutlierDetection::default();
    let time = |name: &str, value: &Option<ProtoDuration>, default: Duration| match value {
        Some(d) => duration(ctx, &format!("outlier_detection.{name}"), d),
        None => Ok(default),
    };
    let interval = time("interval", &proto.interval, defaults.interval)?;
    if interval.is_zero() {
        return Err(ctx.error("outlier_detection.interval", "must be positive"));
    }
    let base_ejection_time = time(
        "base_ejection_time",
        &proto.base_ejection_time,
        defaults.base_ejection_time,
    )?;
    let max_ejection_time = time(
        "max_ejection_time",
        &proto.max_ejection_time,
        defaults.max_ejection_time,
    )?;
    let percent = |name: &str, value: &Option<UInt32Value>, default: u32| {
        let value = value.map_or(default, |v| v.value);
        if value > 100 {
            return Err(ctx.error(
                format!("outlier_detection.{name}"),
                format!("is {value}; it must be at most 100"),
            ));
        }
        Ok(value)
    };
    let count = |value: &Option<UInt32Value>, default: u32| value.map_or(default, |v| v.value);

    let max_ejection_percent = percent(
        "max_ejection_percent",
        &proto.max_ejection_percent,
        defaults.max_ejection_percent,
    )?;
    let enforcing_5xx = percent(
        "enforcing_consecutive_5xx",
        &proto.enforcing_consecutive_5xx,
        100,
    )?;
    let consecutive_failures = Some(count(&proto.consecutive_5xx, DEFAULT_CONSECUTIVE_5XX))
        .filter(|&n| n > 0 && enforcing_5xx > 0);

    let sr = SuccessRateEjection::default();
    let enforcing_success = percent(
        "enforcing_success_rate",
        &proto.enforcing_success_rate,
        sr.enforcing_percent,
    )?;
    let success_rate = (enforcing_success > 0).then(|| SuccessRateEjection {
        stdev_factor: proto
            .success_rate_stdev_factor
            .map_or(sr.stdev_factor, |v| f64::from(v.value) / 1000.0),
        enforcing_percent: enforcing_success,
        minimum_hosts: count(&proto.success_rate_minimum_hosts, sr.minimum_hosts),
        request_volume: count(&proto.success_rate_request_volume, sr.request_volume),
    });

    let fp = FailurePercentageEjection::default();
    let threshold = percent(
        "failure_percentage_threshold",
        &proto.failure_percentage_threshold,
        fp.threshold,
    )?;
    // xDS leaves failure percentage off unless enforced, unlike the model's default.
    let enforcing_failure = percent(
        "enforcing_failure_percentage",
        &proto.enforcing_failure_percentage,
        0,
    )?;
    let failure_percentage = (enforcing_failure > 0).then(|| FailurePercentageEjection {
        threshold,
        enforcing_percent: enforcing_failure,
        minimum_hosts: count(&proto.failure_percentage_minimum_hosts, fp.minimum_hosts),
        request_volume: count(&proto.failure_percentage_request_volume, fp.request_volume),
    });

    Ok(model::OutlierDetection {
        interval,
        base_ejection_time,
        max_ejection_time,
        max_ejection_percent,
        consecutive_failures,
        success_rate,
        failure_percentage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Context<'static> = Context {
        kind: "Cluster",
        resource: "c",
    };

    fn v(value: u32) -> Option<UInt32Value> {
        Some(UInt32Value { value })
    }

    #[test]
    fn an_empty_message_takes_the_xds_defaults() {
        let got = outlier_detection(CTX, &OutlierDetection::default()).unwrap();
        assert_eq!(
            got,
            model::OutlierDetection {
                interval: Duration::from_secs(10),
                base_ejection_time: Duration::from_secs(30),
                max_ejection_time: Duration::from_secs(300),
                max_ejection_percent: 10,
                consecutive_failures: Some(5),
                success_rate: Some(SuccessRateEjection {
                    stdev_factor: 1.9,
                    enforcing_percent: 100,
                    minimum_hosts: 5,
                    request_volume: 100,
                }),
                failure_percentage: None,
            }
        );
    }

    #[test]
    fn enforcing_zero_turns_an_algorithm_off() {
        let proto = OutlierDetection {
            enforcing_consecutive_5xx: v(0),
            enforcing_success_rate: v(0),
            enforcing_failure_percentage: v(0),
            ..Default::default()
        };
        let got = outlier_detection(CTX, &proto).unwrap();
        assert_eq!(got.consecutive_failures, None);
        assert_eq!(got.success_rate, None);
        assert_eq!(got.failure_percentage, None);
        let zero_count = OutlierDetection {
            consecutive_5xx: v(0),
            ..Default::default()
        };
        assert_eq!(
            outlier_detection(CTX, &zero_count)
                .unwrap()
                .consecutive_failures,
            None
        );
    }

    #[test]
    fn failure_percentage_is_on_when_enforced() {
        let proto = OutlierDetection {
            enforcing_failure_percentage: v(50),
            failure_percentage_threshold: v(90),
            failure_percentage_request_volume: v(20),
            ..Default::default()
        };
        let got = outlier_detection(CTX, &proto).unwrap();
        assert_eq!(
            got.failure_percentage,
            Some(FailurePercentageEjection {
                threshold: 90,
                enforcing_percent: 50,
                minimum_hosts: 5,
                request_volume: 20,
            })
        );
    }

    #[test]
    fn percentages_over_100_are_refused() {
        let over = v(101);
        let cases = [
            (
                "max_ejection_percent",
                OutlierDetection {
                    max_ejection_percent: over,
                    ..Default::default()
                },
            ),
            (
                "enforcing_success_rate",
                OutlierDetection {
                    enforcing_success_rate: over,
                    ..Default::default()
                },
            ),
            (
                "failure_percentage_threshold",
                OutlierDetection {
                    failure_percentage_threshold: over,
                    ..Default::default()
                },
            ),
            (
                "enforcing_failure_percentage",
                OutlierDetection {
                    enforcing_failure_percentage: over,
                    ..Default::default()
                },
            ),
            (
                "enforcing_consecutive_5xx",
                OutlierDetection {
                    enforcing_consecutive_5xx: over,
                    ..Default::default()
                },
            ),
        ];
        for (name, proto) in cases {
            let err = outlier_detection(CTX, &proto).unwrap_err();
            assert_eq!(err.field, format!("outlier_detection.{name}"));
        }
        let at_100 = OutlierDetection {
            max_ejection_percent: v(100),
            failure_percentage_threshold: v(100),
            ..Default::default()
        };
        assert!(outlier_detection(CTX, &at_100).is_ok());
    }

    #[test]
    fn durations_must_be_valid() {
        let negative = ProtoDuration {
            seconds: -1,
            nanos: 0,
        };
        let proto = OutlierDetection {
            base_ejection_time: Some(negative),
            ..Default::default()
        };
        let err = outlier_detection(CTX, &proto).unwrap_err();
        assert_eq!(err.field, "outlier_detection.base_ejection_time");
        let proto = OutlierDetection {
            interval: Some(ProtoDuration::default()),
            ..Default::default()
        };
        let err = outlier_detection(CTX, &proto).unwrap_err();
        assert_eq!(err.field, "outlier_detection.interval");
    }
}
