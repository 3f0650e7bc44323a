//! What outlier detection knows of one endpoint: its results since the last evaluation, its
//! failures in a row, and its ejections.
//!
//! Results are counted with atomics on the request path; the ejection fields change only under
//! the detector's lock and are read without it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// One endpoint's results and ejection state.
#[derive(Debug, Default)]
pub(crate) struct Health {
    successes: AtomicU32,
    failures: AtomicU32,
    failures_in_a_row: AtomicU32,
    ejected: AtomicBool,
    /// Ejections so far, less one per interval spent healthy since: the ejection time
    /// multiplier.
    times_ejected: AtomicU32,
    /// When the current (or last) ejection ends, in nanoseconds after the detector's epoch.
    ejected_until: AtomicU64,
}

/// An endpoint's requests in one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Volume {
    /// Requests that succeeded.
    pub(super) successes: u32,
    /// Requests that failed.
    pub(super) failures: u32,
}

impl Volume {
    /// All requests.
    pub(super) fn total(self) -> u32 {
        self.successes.saturating_add(self.failures)
    }
}

impl Health {
    /// Whether the endpoint is ejected now.
    pub(crate) fn is_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed)
    }

    /// Counts a success; the failures in a row start again from zero.
    pub(super) fn record_success(&self) {
        self.successes.fetch_add(1, Ordering::Relaxed);
        // Read first: a store would dirty the cache line even when the count is already 0.
        if self.failures_in_a_row.load(Ordering::Relaxed) != 0 {
            self.failures_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a failure; returns the failures in a row, this one included.
    pub(super) fn record_failure(&self) -> u32 {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.failures_in_a_row.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The results since the last call, which starts a new interval.
    pub(super) fn take_volume(&self) -> Volume {
        Volume {
            successes: self.successes.swap(0, Ordering::Relaxed),
            failures: self.failures.swap(0, Ordering::Relaxed),
        }
    }

    /// Marks the endpoint ejected; returns the times ejected, this one included (the multiplier
    /// of the ejection time). Called under the detector's lock.
    pub(super) fn eject(&self) -> u32 {
        self.failures_in_a_row.store(0, Ordering::Relaxed);
        self.ejected.store(true, Ordering::Relaxed);
        self.times_ejected.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Sets the end of the current ejection. Called under the detector's lock.
    pub(super) fn set_ejected_until(&self, until_ns: u64) {
        self.ejected_until.store(until_ns, Ordering::Relaxed);
    }

    /// When the current or last ejection ends, in nanoseconds after the detector's epoch.
    pub(super) fn ejected_until(&self) -> u64 {
        self.ejected_until.load(Ordering::Relaxed)
    }

    /// Takes the endpoint back. Called under the detector's lock.
    pub(super) fn readmit(&self) {
        self.ejected.store(false, Ordering::Relaxed);
    }

    /// Ejections so far, less those forgiven.
    pub(super) fn times_ejected(&self) -> u32 {
        self.times_ejected.load(Ordering::Relaxed)
    }

    /// Forgives one ejection (after an interval spent healthy). Called under the detector's
    /// lock.
    pub(super) fn forgive_one(&self) {
        let times = self.times_ejected();
        self.times_ejected
            .store(times.saturating_sub(1), Ordering::Relaxed);
    }
}
