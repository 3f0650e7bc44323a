//! The latencies and errors of one phase of load: an HDR histogram of the calls that
//! succeeded, in nanoseconds, and a count of those that did not.

use std::time::Duration;

use hdrhistogram::Histogram;

use super::report::PhaseReport;

/// The longest latency kept exactly; longer ones count as this long.
const HIGHEST: Duration = Duration::from_secs(60);

/// What one phase measured.
#[derive(Clone, Debug)]
pub struct Latencies {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Default for Latencies {
    fn default() -> Self {
        let highest = u64::try_from(HIGHEST.as_nanos()).unwrap_or(u64::MAX);
        Self {
            histogram: Histogram::new_with_bounds(1, highest, 3)
                .expect("1 ns to 60 s at 3 significant digits is a valid histogram"),
            errors: 0,
            first_error: None,
        }
    }
}

impl Latencies {
    /// Records a call that succeeded after `latency`.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(nanos.max(1));
    }

    /// Counts a call that failed; the first error's text is kept for the report.
    pub fn fail(&mut self, error: impl ToString) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// Adds what `other` measured.
    pub fn merge(&mut self, other: &Latencies) {
        self.histogram
            .add(&other.histogram)
            .expect("histograms of the same bounds add up");
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
    }

    /// Calls that succeeded.
    pub fn ok(&self) -> u64 {
        self.histogram.len()
    }

    /// The summary of a phase that lasted `elapsed`.
    pub fn report(&self, elapsed: Duration) -> PhaseReport {
        let us = |q: f64| self.histogram.value_at_quantile(q) as f64 / 1000.0;
        PhaseReport {
            ok: self.ok(),
            errors: self.errors,
            first_error: self.first_error.clone(),
            seconds: elapsed.as_secs_f64(),
            rps: self.ok() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
            p50_us: us(0.50),
            p90_us: us(0.90),
            p99_us: us(0.99),
            max_us: self.histogram.max() as f64 / 1000.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors() {
        let mut a = Latencies::default();
        for us in 1..=100u64 {
            a.record(Duration::from_micros(us));
        }
        let mut b = Latencies::default();
        b.fail("Status { code: Unavailable }");
        b.fail("second");
        a.merge(&b);
        let report = a.report(Duration::from_secs(2));
        assert_eq!((report.ok, report.errors), (100, 2));
        assert_eq!(
            report.first_error.as_deref(),
            Some("Status { code: Unavailable }")
        );
        assert!((report.p50_us - 50.0).abs() < 0.1, "{}", report.p50_us);
        assert!((report.p99_us - 99.0).abs() < 0.1, "{}", report.p99_us);
        // Only the calls that succeeded count.
        assert!((report.rps - 50.0).abs() < 1e-9);
    }
}
