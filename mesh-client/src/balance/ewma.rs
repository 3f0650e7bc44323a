//! Peak-EWMA: a latency estimate that jumps up at once and decays down slowly.
//!
//! Each response time `rtt` updates the estimate: if it is above the estimate, the estimate
//! becomes `rtt` (the peak); otherwise the two are blended with the weight
//! `w = exp(-elapsed / decay)`, `estimate = estimate * w + rtt * (1 - w)`, where `elapsed` is the
//! time since the last update. Between updates the estimate decays towards zero with the same
//! weight, so an endpoint that was slow long ago becomes worth trying again. This is the
//! estimator of Finagle and tower's `PeakEwma`.

use std::time::Duration;

use tokio::time::Instant;

/// The decay time of the estimate unless configured otherwise.
pub(crate) const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// A peak-EWMA round-trip-time estimate, in nanoseconds.
#[derive(Debug)]
pub(crate) struct RttEstimate {
    rtt_ns: f64,
    updated_at: Instant,
}

impl RttEstimate {
    /// An estimate with no observation yet (zero).
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            rtt_ns: 0.0,
            updated_at: now,
        }
    }

    /// Folds in one observed round trip.
    pub(crate) fn observe(&mut self, rtt: Duration, now: Instant, decay: Duration) {
        let rtt_ns = rtt.as_nanos() as f64;
        self.rtt_ns = if rtt_ns > self.rtt_ns {
            rtt_ns
        } else {
            let w = self.weight(now, decay);
            self.rtt_ns * w + rtt_ns * (1.0 - w)
        };
        self.updated_at = self.updated_at.max(now);
    }

    /// The estimate at `now`, decayed since the last observation.
    pub(crate) fn at(&self, now: Instant, decay: Duration) -> f64 {
        self.rtt_ns * self.weight(now, decay)
    }

    fn weight(&self, now: Instant, decay: Duration) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated_at).as_nanos() as f64;
        (-elapsed / decay.as_nanos().max(1) as f64).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: f64 = 1_000_000.0;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6 * b.abs().max(1.0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_slower_response_is_taken_at_once() {
        let mut e = RttEstimate::new(Instant::now());
        e.observe(Duration::from_millis(10), Instant::now(), DEFAULT_DECAY);
        assert!(close(e.at(Instant::now(), DEFAULT_DECAY), 10.0 * MS));
        e.observe(Duration::from_millis(50), Instant::now(), DEFAULT_DECAY);
        assert!(close(e.at(Instant::now(), DEFAULT_DECAY), 50.0 * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_response_is_blended_by_elapsed_time() {
        let mut e = RttEstimate::new(Instant::now());
        e.observe(Duration::from_millis(100), Instant::now(), DEFAULT_DECAY);
        tokio::time::advance(DEFAULT_DECAY).await;
        e.observe(Duration::from_millis(20), Instant::now(), DEFAULT_DECAY);
        let w = (-1.0f64).exp();
        let expected = 100.0 * MS * w + 20.0 * MS * (1.0 - w);
        assert!(close(e.at(Instant::now(), DEFAULT_DECAY), expected));
    }

    #[tokio::test(start_paused = true)]
    async fn a_faster_response_right_away_barely_moves_the_peak() {
        let mut e = RttEstimate::new(Instant::now());
        e.observe(Duration::from_millis(100), Instant::now(), DEFAULT_DECAY);
        e.observe(Duration::from_millis(1), Instant::now(), DEFAULT_DECAY);
        assert!(close(e.at(Instant::now(), DEFAULT_DECAY), 100.0 * MS));
    }

    #[tokio::test(start_paused = true)]
    async fn the_estimate_decays_while_idle() {
        let mut e = RttEstimate::new(Instant::now());
        e.observe(Duration::from_millis(100), Instant::now(), DEFAULT_DECAY);
        tokio::time::advance(DEFAULT_DECAY * 2).await;
        let expected = 100.0 * MS * (-2.0f64).exp();
        assert!(close(e.at(Instant::now(), DEFAULT_DECAY), expected));
    }
}
