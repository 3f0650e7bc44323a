//! The retry budget of a cluster: how many retries it takes, compared to requests.
//!
//! Finagle's formula: over a sliding window of `ttl`, retries may number
//!
//! ```text
//! ratio * requests_in_window + min_per_second * ttl_seconds
//! ```
//!
//! so retries add at most `ratio` of extra load to a busy cluster, while a quiet one can still
//! retry `min_per_second`. Every request deposits (once, however many attempts it makes); every
//! retry withdraws, and is not sent when the budget is spent. This is what stops a retry storm:
//! when every request fails, the load grows by `ratio`, not by the number of attempts.
//!
//! The window is kept as one bucket per second (`ttl` rounded up to whole seconds), each an
//! atomic word holding its second and its count, so deposits take no lock: a request counts
//! for between `ttl - 1 s` and `ttl` (a `ttl` over an hour counts as an hour, bounding the
//! window's memory). Two retries racing for the last unit of budget may both
//! get it; the budget is a bound on load, not an exact count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mesh_core::model::RetryBudget;
use tokio::time::Instant;

/// The retry budget state of one cluster, shared by its requests.
#[derive(Debug)]
pub(crate) struct RetryBudgetState {
    ratio: f64,
    /// The retries allowed in a window whatever the traffic: `min_per_second * ttl_seconds`.
    reserve: f64,
    epoch: Instant,
    deposits: Window,
    withdrawals: Window,
}

impl RetryBudgetState {
    /// An empty budget with this configuration.
    pub(crate) fn new(budget: &RetryBudget) -> Self {
        let seconds = window_seconds(budget.ttl);
        Self {
            ratio: budget.ratio,
            reserve: f64::from(budget.min_per_second) * seconds as f64,
            epoch: Instant::now(),
            deposits: Window::new(seconds),
            withdrawals: Window::new(seconds),
        }
    }

    /// Counts a request.
    pub(crate) fn deposit(&self) {
        self.deposits.add(self.second());
    }

    /// Takes one retry from the budget; `false` (and nothing taken) when it is spent.
    pub(crate) fn try_withdraw(&self) -> bool {
        let second = self.second();
        let allowed = self.ratio * self.deposits.sum(second) as f64 + self.reserve;
        if self.withdrawals.sum(second) as f64 + 1.0 > allowed {
            return false;
        }
        self.withdrawals.add(second);
        true
    }

    /// Whole seconds since the epoch.
    fn second(&self) -> u64 {
        self.epoch.elapsed().as_secs()
    }
}

/// The longest window, in seconds.
const MAX_WINDOW_SECONDS: u64 = 3600;

/// `ttl` in whole seconds, rounded up, from one to [`MAX_WINDOW_SECONDS`].
fn window_seconds(ttl: Duration) -> u64 {
    let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    seconds.clamp(1, MAX_WINDOW_SECONDS)
}

/// Counts per second over the last few seconds.
#[derive(Debug)]
struct Window {
    /// Bucket `s % len` holds second `s`: the second in the high 32 bits, the count in the low.
    buckets: Box<[AtomicU64]>,
}

const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

impl Window {
    fn new(seconds: u64) -> Self {
        Self {
            buckets: (0..seconds).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Counts one in `second`.
    fn add(&self, second: u64) {
        let bucket = &self.buckets[(second % self.buckets.len() as u64) as usize];
        let stamp = second << COUNT_BITS;
        let mut word = bucket.load(Ordering::Relaxed);
        loop {
            let next = if word & !COUNT_MASK == stamp {
                word + 1
            } else {
                stamp | 1
            };
            match bucket.compare_exchange_weak(word, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(current) => word = current,
            }
        }
    }

    /// The count of the window ending with `second`.
    fn sum(&self, second: u64) -> u64 {
        let len = self.buckets.len() as u64;
        self.buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .filter(|word| {
                let at = word >> COUNT_BITS;
                at <= second && second - at < len
            })
            .map(|word| word & COUNT_MASK)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn budget(ratio: f64, min_per_second: u32, ttl_secs: u64) -> RetryBudgetState {
        RetryBudgetState::new(&RetryBudget {
            ratio,
            min_per_second,
            ttl: Duration::from_secs(ttl_secs),
        })
    }

    fn withdraw_all(budget: &RetryBudgetState) -> u32 {
        let mut n = 0;
        while budget.try_withdraw() {
            n += 1;
            assert!(n < 1_000_000, "the budget never ran out");
        }
        n
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_ratio_of_requests_plus_a_reserve() {
        let b = budget(0.2, 1, 10);
        for _ in 0..100 {
            b.deposit();
        }
        // 0.2 * 100 + 1 * 10
        assert_eq!(withdraw_all(&b), 30);
        for _ in 0..5 {
            b.deposit();
        }
        assert_eq!(withdraw_all(&b), 1, "five more requests buy one more retry");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_cluster_has_the_reserve_only() {
        let b = budget(0.5, 3, 2);
        assert_eq!(withdraw_all(&b), 6);
        let none = budget(0.5, 0, 10);
        assert!(!none.try_withdraw());
        none.deposit();
        assert!(!none.try_withdraw(), "half a retry is none");
        none.deposit();
        assert!(none.try_withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_refills_as_requests_and_retries_age_out() {
        let b = budget(1.0, 0, 3);
        for _ in 0..10 {
            b.deposit();
        }
        advance(Duration::from_secs(1)).await;
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(withdraw_all(&b), 20);
        advance(Duration::from_secs(2)).await;
        // The first second's requests are out of the window; the retries are not yet.
        assert_eq!(withdraw_all(&b), 0);
        advance(Duration::from_secs(1)).await;
        // The window holds nothing.
        assert_eq!(withdraw_all(&b), 0);
        for _ in 0..4 {
            b.deposit();
        }
        assert_eq!(withdraw_all(&b), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_second_of_ttl_counts_as_a_whole_one() {
        let b = RetryBudgetState::new(&RetryBudget {
            ratio: 0.1,
            min_per_second: 2,
            ttl: Duration::from_millis(1500),
        });
        assert_eq!(withdraw_all(&b), 4);
    }
}
