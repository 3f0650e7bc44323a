//! The interval checks of outlier detection (A50): success rate and failure percentage.
//!
//! Both look only at the endpoints with at least `request_volume` requests in the interval, and
//! run only when at least `minimum_hosts` endpoints have that many:
//!
//! - **success rate**: an endpoint whose success rate is below `mean - stdev_factor * stdev` of
//!   those endpoints' rates is an outlier (the population standard deviation, as gRPC);
//! - **failure percentage**: an endpoint failing more than `threshold` percent of its requests
//!   is an outlier.
//!
//! Whether an outlier is then ejected is the detector's decision (enforcing percent, maximum
//! ejection percent).

use std::fmt;

use mesh_core::model::{FailurePercentageEjection, SuccessRateEjection};

use super::health::Volume;

/// Why an endpoint was ejected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Reason {
    /// It failed this many requests in a row.
    ConsecutiveFailures(u32),
    /// Its success rate (percent) was below the threshold computed from the cluster's.
    SuccessRate {
        /// Its success rate, in percent.
        rate: f64,
        /// The lowest rate that was not an outlier.
        threshold: f64,
    },
    /// It failed more than the configured percentage of its requests.
    FailurePercentage {
        /// Its failure percentage.
        percent: f64,
        /// The configured threshold.
        threshold: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ConsecutiveFailures(n) => write!(f, "{n} consecutive failures"),
            Reason::SuccessRate { rate, threshold } => write!(
                f,
                "success rate {rate:.1}% below the cluster's threshold {threshold:.1}%"
            ),
            Reason::FailurePercentage { percent, threshold } => {
                write!(
                    f,
                    "{percent:.1}% of requests failed (threshold {threshold}%)"
                )
            }
        }
    }
}

/// An endpoint found an outlier in one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Outlier {
    /// Its index in the volumes given.
    pub(super) index: usize,
    /// Why.
    pub(super) reason: Reason,
    /// The chance, in percent, that it is ejected.
    pub(super) enforcing_percent: u32,
}

/// The endpoints whose success rate is far below the others'.
pub(super) fn success_rate(volumes: &[Volume], config: &SuccessRateEjection) -> Vec<Outlier> {
    let rates: Vec<(usize, f64)> = candidates(volumes, config.request_volume)
        .map(|(i, v)| (i, 100.0 * f64::from(v.successes) / f64::from(v.total())))
        .collect();
    if rates.is_empty() || rates.len() < config.minimum_hosts as usize {
        return Vec::new();
    }
    let n = rates.len() as f64;
    let mean = rates.iter().map(|(_, r)| r).sum::<f64>() / n;
    let variance = rates.iter().map(|(_, r)| (r - mean).powi(2)).sum::<f64>() / n;
    let threshold = mean - config.stdev_factor * variance.sqrt();
    rates
        .into_iter()
        .filter(|&(_, rate)| rate < threshold)
        .map(|(index, rate)| Outlier {
            index,
            reason: Reason::SuccessRate { rate, threshold },
            enforcing_percent: config.enforcing_percent,
        })
        .collect()
}

/// The endpoints failing more than the threshold.
pub(super) fn failure_percentage(
    volumes: &[Volume],
    config: &FailurePercentageEjection,
) -> Vec<Outlier> {
    let counted = candidates(volumes, config.request_volume).count();
    if counted == 0 || counted < config.minimum_hosts as usize {
        return Vec::new();
    }
    candidates(volumes, config.request_volume)
        .map(|(i, v)| (i, 100.0 * f64::from(v.failures) / f64::from(v.total())))
        .filter(|&(_, percent)| percent > f64::from(config.threshold))
        .map(|(index, percent)| Outlier {
            index,
            reason: Reason::FailurePercentage {
                percent,
                threshold: config.threshold,
            },
            enforcing_percent: config.enforcing_percent,
        })
        .collect()
}

/// The endpoints with enough requests to judge (and at least one).
fn candidates(volumes: &[Volume], request_volume: u32) -> impl Iterator<Item = (usize, Volume)> {
    volumes
        .iter()
        .copied()
        .enumerate()
        .filter(move |(_, v)| v.total() > 0 && v.total() >= request_volume)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(successes: u32, failures: u32) -> Volume {
        Volume {
            successes,
            failures,
        }
    }

    fn success_config(minimum_hosts: u32) -> SuccessRateEjection {
        SuccessRateEjection {
            stdev_factor: 1.9,
            enforcing_percent: 100,
            minimum_hosts,
            request_volume: 100,
        }
    }

    fn failure_config(minimum_hosts: u32) -> FailurePercentageEjection {
        FailurePercentageEjection {
            threshold: 85,
            enforcing_percent: 100,
            minimum_hosts,
            request_volume: 50,
        }
    }

    #[test]
    fn a_success_rate_far_below_the_mean_is_an_outlier() {
        // Rates 100, 100, 100, 100, 50: mean 90, stdev 20, threshold 90 - 1.9 * 20 = 52.
        let mut volumes = vec![volume(100, 0); 4];
        volumes.push(volume(50, 50));
        let outliers = success_rate(&volumes, &success_config(5));
        assert_eq!(outliers.len(), 1);
        assert_eq!(outliers[0].index, 4);
        let Reason::SuccessRate { rate, threshold } = outliers[0].reason else {
            panic!("{:?}", outliers[0].reason);
        };
        assert_eq!(rate, 50.0);
        assert!((threshold - 52.0).abs() < 1e-9, "{threshold}");
    }

    #[test]
    fn a_success_rate_within_the_spread_is_not() {
        // Rates 100, 95, 90, 85, 80: mean 90, stdev 7.07, threshold 76.6.
        let volumes = [
            volume(100, 0),
            volume(95, 5),
            volume(90, 10),
            volume(85, 15),
            volume(80, 20),
        ];
        assert!(success_rate(&volumes, &success_config(5)).is_empty());
    }

    #[test]
    fn success_rate_needs_enough_hosts_with_enough_requests() {
        let mut volumes = vec![volume(100, 0); 5];
        volumes.push(volume(99, 0)); // below the request volume: not counted
        volumes.push(volume(0, 100));
        assert!(success_rate(&volumes, &success_config(7)).is_empty());
        assert_eq!(success_rate(&volumes, &success_config(6)).len(), 1);
    }

    #[test]
    fn failing_over_the_threshold_is_an_outlier() {
        let volumes = [
            volume(50, 0),
            volume(5, 45),  // 90 % failed
            volume(10, 40), // 80 % failed: under the threshold
            volume(1, 9),   // too few requests
        ];
        let outliers = failure_percentage(&volumes, &failure_config(3));
        assert_eq!(outliers.len(), 1);
        assert_eq!(outliers[0].index, 1);
        assert_eq!(
            outliers[0].reason.to_string(),
            "90.0% of requests failed (threshold 85%)"
        );
        assert!(failure_percentage(&volumes, &failure_config(4)).is_empty());
    }

    #[test]
    fn no_traffic_finds_no_outlier() {
        let volumes = [Volume::default(); 3];
        let mut fp = failure_config(0);
        fp.request_volume = 0;
        assert!(failure_percentage(&volumes, &fp).is_empty());
        let mut sr = success_config(0);
        sr.request_volume = 0;
        assert!(success_rate(&volumes, &sr).is_empty());
    }
}
