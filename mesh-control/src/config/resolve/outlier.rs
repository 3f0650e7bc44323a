//! `spec.outlierDetection` of a BackendPolicy: when endpoints are ejected for failing (gRFC
//! A50, plus Envoy's consecutive failures). Left out, a field takes the xDS default; a
//! `maxEjectionTime` left out grows to `baseEjectionTime` when that is longer, as in xDS.
//!
//! Every setting must survive the trip through xDS unchanged: an algorithm is off by being left
//! out (xDS says "off" with an enforcing percentage of 0, so 0 is refused here), and the
//! success-rate `stdevFactor` travels in thousandths, so it is a multiple of 0.001.

use std::time::Duration;

use mesh_core::model::{FailurePercentageEjection, OutlierDetection, SuccessRateEjection};
use serde_saphyr::Spanned;

use super::fields::Fields;
use crate::config::kinds::backend_policy;

/// The outlier detection of `o`; mistakes are reported through `fields`.
pub(crate) fn outlier_detection(
    fields: &mut Fields<'_>,
    o: &Spanned<backend_policy::OutlierDetection>,
) -> OutlierDetection {
    let field = "spec.outlierDetection";
    if o.value.consecutive_failures.is_none()
        && o.value.success_rate.is_none()
        && o.value.failure_percentage.is_none()
    {
        let message = "ejects nothing; add consecutiveFailures, successRate or failurePercentage";
        fields.error(o.referenced, field, message);
    }
    let o = &o.value;
    let default = OutlierDetection::default();
    let mut duration = |value: Option<&Spanned<String>>, name: &str, default: Duration| {
        let read = value.and_then(|v| fields.duration(v, &format!("{field}.{name}")));
        read.unwrap_or(default)
    };
    let interval = duration(o.interval.as_ref(), "interval", default.interval);
    let base_ejection_time = duration(
        o.base_ejection_time.as_ref(),
        "baseEjectionTime",
        default.base_ejection_time,
    );
    let max_ejection_time = duration(
        o.max_ejection_time.as_ref(),
        "maxEjectionTime",
        default.max_ejection_time,
    );
    let max_ejection_time = match &o.max_ejection_time {
        // Left out, it grows to the base (as in xDS).
        None => max_ejection_time.max(base_ejection_time),
        Some(max) if max_ejection_time < base_ejection_time => {
            let message = format!(
                "{:?} is shorter than baseEjectionTime ({base_ejection_time:?}); make it at least as long",
                max.value
            );
            fields.error(max.referenced, &format!("{field}.maxEjectionTime"), message);
            max_ejection_time
        }
        Some(_) => max_ejection_time,
    };
    let max_ejection_percent = o.max_ejection_percent.as_ref().and_then(|m| {
        let meaning = "the most endpoints ejected at once, in percent";
        fields.integer(m, &format!("{field}.maxEjectionPercent"), 0..=100, meaning)
    });
    let consecutive_failures = o.consecutive_failures.as_ref().and_then(|c| {
        let meaning = "failures in a row that eject an endpoint";
        fields.integer(
            c,
            &format!("{field}.consecutiveFailures"),
            1..=u32::MAX,
            meaning,
        )
    });
    OutlierDetection {
        interval,
        base_ejection_time,
        max_ejection_time,
        max_ejection_percent: max_ejection_percent.unwrap_or(default.max_ejection_percent),
        consecutive_failures,
        success_rate: o
            .success_rate
            .as_ref()
            .map(|s| success_rate(fields, &s.value)),
        failure_percentage: o
            .failure_percentage
            .as_ref()
            .map(|f| failure_percentage(fields, &f.value)),
    }
}

/// An optional integer of `field` with its range, meaning and default.
fn count(
    fields: &mut Fields<'_>,
    value: Option<&Spanned<i64>>,
    field: &str,
    (low, high): (u32, u32),
    meaning: &str,
    default: u32,
) -> u32 {
    let read = value.and_then(|v| fields.integer(v, field, low..=high, meaning));
    read.unwrap_or(default)
}

/// The `meaning` of an `enforcingPercent` of the algorithm `name`.
fn enforcing_meaning(what: &str, name: &str) -> String {
    format!("the chance, in percent, that {what} is ejected; to turn {name} off, remove it")
}

/// `stdevFactor`: from 0.001 to 1000, in steps of 0.001 (xDS carries it in thousandths).
fn stdev_factor(fields: &mut Fields<'_>, f: &Spanned<f64>, field: &str) -> Option<f64> {
    let meaning = "standard deviations below the mean success rate, in steps of 0.001";
    let factor = fields.real(f, field, (0.001, false, 1000.0), meaning)?;
    let thousandths = (factor * 1000.0).round();
    if (factor * 1000.0 - thousandths).abs() > 1e-6 {
        let message = format!(
            "{factor} is not a multiple of 0.001; xDS carries the factor in thousandths, so use \
             {} instead",
            thousandths / 1000.0
        );
        fields.error(f.referenced, field, message);
        return None;
    }
    Some(factor)
}

fn success_rate(fields: &mut Fields<'_>, s: &backend_policy::SuccessRate) -> SuccessRateEjection {
    let field = "spec.outlierDetection.successRate";
    let default = SuccessRateEjection::default();
    let stdev_factor = s
        .stdev_factor
        .as_ref()
        .and_then(|f| stdev_factor(fields, f, &format!("{field}.stdevFactor")));
    SuccessRateEjection {
        stdev_factor: stdev_factor.unwrap_or(default.stdev_factor),
        enforcing_percent: count(
            fields,
            s.enforcing_percent.as_ref(),
            &format!("{field}.enforcingPercent"),
            (1, 100),
            &enforcing_meaning("an outlier", "successRate"),
            default.enforcing_percent,
        ),
        minimum_hosts: count(
            fields,
            s.minimum_hosts.as_ref(),
            &format!("{field}.minimumHosts"),
            (1, u32::MAX),
            "endpoints with enough requests for the check to run",
            default.minimum_hosts,
        ),
        request_volume: count(
            fields,
            s.request_volume.as_ref(),
            &format!("{field}.requestVolume"),
            (1, u32::MAX),
            "requests in an interval for an endpoint to count",
            default.request_volume,
        ),
    }
}

fn failure_percentage(
    fields: &mut Fields<'_>,
    f: &backend_policy::FailurePercentage,
) -> FailurePercentageEjection {
    let field = "spec.outlierDetection.failurePercentage";
    let default = FailurePercentageEjection::default();
    FailurePercentageEjection {
        threshold: count(
            fields,
            f.threshold.as_ref(),
            &format!("{field}.threshold"),
            (0, 100),
            "the failure percentage over which an endpoint is ejected",
            default.threshold,
        ),
        enforcing_percent: count(
            fields,
            f.enforcing_percent.as_ref(),
            &format!("{field}.enforcingPercent"),
            (1, 100),
            &enforcing_meaning("an endpoint over the threshold", "failurePercentage"),
            default.enforcing_percent,
        ),
        minimum_hosts: count(
            fields,
            f.minimum_hosts.as_ref(),
            &format!("{field}.minimumHosts"),
            (1, u32::MAX),
            "endpoints with enough requests for the check to run",
            default.minimum_hosts,
        ),
        request_volume: count(
            fields,
            f.request_volume.as_ref(),
            &format!("{field}.requestVolume"),
            (1, u32::MAX),
            "requests in an interval for an endpoint to count",
            default.request_volume,
        ),
    }
}
