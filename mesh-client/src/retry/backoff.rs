//! The pause before a retry: exponential backoff with full jitter (A44).
//!
//! Retry `n` (1 for the first retry) waits a random time in `[0, min(base * 2^(n-1), max)]`.
//! The randomness spreads the retries of many clients that failed at once, so they do not
//! arrive together again.

use std::time::Duration;

use mesh_core::model::RetryBackoff;
use rand::Rng;

/// The pause before retry `retry` (1-based).
pub(crate) fn pause(backoff: &RetryBackoff, retry: u32, rng: &mut impl Rng) -> Duration {
    let doublings = retry.saturating_sub(1).min(31);
    let bound = backoff.base.saturating_mul(1 << doublings).min(backoff.max);
    rng.random_range(Duration::ZERO..=bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const POLICY: RetryBackoff = RetryBackoff {
        base: Duration::from_millis(25),
        max: Duration::from_millis(250),
    };

    #[test]
    fn pauses_stay_within_the_doubling_bound_and_the_max() {
        let mut rng = StdRng::seed_from_u64(11);
        for (retry, bound) in [(1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (40, 250)] {
            let bound = Duration::from_millis(bound);
            let pauses: Vec<_> = (0..2_000)
                .map(|_| pause(&POLICY, retry, &mut rng))
                .collect();
            assert!(pauses.iter().all(|p| *p <= bound), "retry {retry}");
            // Full jitter: the draws cover the range, not just its top.
            let low = pauses.iter().filter(|p| **p < bound / 4).count();
            let high = pauses.iter().filter(|p| **p > bound * 3 / 4).count();
            assert!(
                low > 300 && high > 300,
                "retry {retry}: {low} low, {high} high"
            );
        }
    }
}
