//! Outlier detection: taking failing endpoints out of a cluster for a while (gRFC A50, plus
//! Envoy's consecutive failures).
//!
//! Every request's outcome is counted on its endpoint ([`Health`]). An endpoint is *ejected*,
//! and takes no new requests, when
//!
//! - it fails `consecutive_failures` requests in a row: at once, on the request path;
//! - at an interval check, its success rate is far below the cluster's or its failure
//!   percentage is over the threshold ([`evaluate`]; each with its enforcing chance).
//!
//! An ejection lasts `base_ejection_time` times the number of times the endpoint was ejected,
//! at most `max(base_ejection_time, max_ejection_time)`; each interval an endpoint spends
//! healthy after its last ejection forgives one of them. Never more than
//! `max_ejection_percent` of the endpoints are ejected at once, with gRPC's check (eject while
//! fewer than that share are ejected), so one endpoint may be ejected even when the share
//! rounds to zero hosts.
//!
//! # Timing
//!
//! One Tokio task per cluster with outlier detection runs the interval checks and takes
//! endpoints back the moment their ejection ends: it sleeps until the next check or the
//! earliest end of an ejection, and an ejection on the request path wakes it to look again. It
//! holds only a `Weak` reference to the [`Detector`] and ends when the detector is dropped (its
//! endpoints hold it, so: when the cluster leaves the routes or its policy changes, and the
//! last request to it ended). A task rather than checks on pick keeps picks free of clocks and
//! locks, brings an idle cluster's endpoints back on time, and logs ejections and returns when
//! they happen.

mod evaluate;
mod health;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use mesh_core::model::OutlierDetection;
use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;

use self::evaluate::Reason;
use self::health::Volume;
use super::Endpoint;
use crate::counters::Counters;
use crate::telemetry::ClusterEvent;

pub(crate) use health::Health;

/// The outlier detection of one cluster.
#[derive(Debug)]
pub(crate) struct Detector {
    cluster: Arc<str>,
    config: OutlierDetection,
    counters: Arc<Counters>,
    /// The origin of the ejection times stored in the endpoints' [`Health`].
    epoch: Instant,
    /// The cluster's endpoints now (weak: they hold the detector).
    endpoints: Mutex<Vec<Weak<Endpoint>>>,
    /// How many of them are ejected; changes only under the `endpoints` lock.
    ejected: AtomicUsize,
    /// Wakes the task: an ejection to time, or the detector is gone.
    wake: Arc<Notify>,
}

impl Detector {
    /// Starts outlier detection for `cluster`. Needs a Tokio runtime.
    pub(crate) fn start(
        cluster: Arc<str>,
        config: OutlierDetection,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        let wake = Arc::new(Notify::new());
        let interval = config.interval;
        let detector = Arc::new(Self {
            cluster,
            config,
            counters,
            epoch: Instant::now(),
            endpoints: Mutex::new(Vec::new()),
            ejected: AtomicUsize::new(0),
            wake: Arc::clone(&wake),
        });
        tokio::spawn(run(Arc::downgrade(&detector), wake, interval));
        detector
    }

    /// The endpoints of the cluster now (each made with this detector).
    pub(crate) fn set_endpoints(&self, endpoints: &[Arc<Endpoint>]) {
        let mut list = self.lock();
        *list = endpoints.iter().map(Arc::downgrade).collect();
        let ejected = endpoints.iter().filter(|e| e.is_ejected()).count();
        self.ejected.store(ejected, Ordering::Relaxed);
    }

    /// Whether any endpoint is ejected now.
    pub(crate) fn any_ejected(&self) -> bool {
        self.ejected.load(Ordering::Relaxed) > 0
    }

    /// `endpoint` served a request well.
    pub(crate) fn succeeded(&self, endpoint: &Endpoint) {
        endpoint.health().record_success();
    }

    /// `endpoint` failed a request: ejected at once if that makes too many failures in a row.
    pub(crate) fn failed(&self, endpoint: &Endpoint) {
        let in_a_row = endpoint.health().record_failure();
        let Some(limit) = self.config.consecutive_failures else {
            return;
        };
        if in_a_row < limit || endpoint.is_ejected() {
            return;
        }
        let list = self.lock();
        if list.iter().any(|e| std::ptr::eq(e.as_ptr(), endpoint)) {
            let reason = Reason::ConsecutiveFailures(in_a_row);
            self.try_eject(list.len(), endpoint, reason, Instant::now());
        }
    }

    /// Ejects `endpoint`, one of `hosts`, unless that ejects too many. Called under the lock.
    fn try_eject(&self, hosts: usize, endpoint: &Endpoint, reason: Reason, now: Instant) {
        if endpoint.is_ejected() {
            return;
        }
        let ejected = self.ejected.load(Ordering::Relaxed);
        let max_percent = self.config.max_ejection_percent as usize;
        if ejected * 100 >= max_percent * hosts {
            tracing::debug!(
                cluster = %self.cluster,
                endpoint = %endpoint.address(),
                %reason,
                "outlier not ejected: {ejected} of {hosts} endpoints are ejected already \
                 (max {max_percent}%)"
            );
            return;
        }
        let times = endpoint.health().eject();
        let base = self.config.base_ejection_time;
        let duration = base
            .saturating_mul(times)
            .min(base.max(self.config.max_ejection_time));
        endpoint
            .health()
            .set_ejected_until(self.nanos(now + duration));
        self.ejected.fetch_add(1, Ordering::Relaxed);
        self.counters
            .cluster_event(ClusterEvent::Ejection, &self.cluster);
        tracing::info!(
            cluster = %self.cluster,
            endpoint = %endpoint.address(),
            %reason,
            ejection = ?duration,
            times,
            "endpoint ejected"
        );
        self.wake.notify_one();
    }

    /// One wake-up of the task: the interval check if due (then the next one is scheduled),
    /// and the returns due. Returns when the next ejection ends, if one is in force.
    fn tick(&self, now: Instant, next_check: &mut Instant) -> Option<Instant> {
        let list = self.lock();
        if now >= *next_check {
            self.check(&list, now);
            *next_check = now + self.config.interval;
        }
        self.readmit_due(&list, now)
    }

    /// The interval check: success rate, failure percentage, and one ejection forgiven to
    /// endpoints healthy for an interval since their last ejection ended.
    fn check(&self, list: &[Weak<Endpoint>], now: Instant) {
        let live: Vec<Arc<Endpoint>> = list.iter().filter_map(Weak::upgrade).collect();
        let volumes: Vec<Volume> = live.iter().map(|e| e.health().take_volume()).collect();
        let mut outliers = Vec::new();
        if let Some(config) = &self.config.success_rate {
            outliers.extend(evaluate::success_rate(&volumes, config));
        }
        if let Some(config) = &self.config.failure_percentage {
            outliers.extend(evaluate::failure_percentage(&volumes, config));
        }
        let mut rng = rand::rng();
        for outlier in outliers {
            if rng.random_range(0..100) < outlier.enforcing_percent {
                self.try_eject(list.len(), &live[outlier.index], outlier.reason, now);
            }
        }
        let healthy_since = self
            .nanos(now)
            .saturating_sub(as_nanos(self.config.interval));
        for endpoint in &live {
            let health = endpoint.health();
            if !health.is_ejected()
                && health.times_ejected() > 0
                && health.ejected_until() <= healthy_since
            {
                health.forgive_one();
            }
        }
    }

    /// Takes back the endpoints whose ejection is over; returns when the next one ends.
    fn readmit_due(&self, list: &[Weak<Endpoint>], now: Instant) -> Option<Instant> {
        let now_ns = self.nanos(now);
        let mut next: Option<u64> = None;
        for endpoint in list.iter().filter_map(Weak::upgrade) {
            if !endpoint.is_ejected() {
                continue;
            }
            let until = endpoint.health().ejected_until();
            if until > now_ns {
                next = Some(next.map_or(until, |n| n.min(until)));
                continue;
            }
            endpoint.health().readmit();
            self.ejected.fetch_sub(1, Ordering::Relaxed);
            tracing::info!(
                cluster = %self.cluster,
                endpoint = %endpoint.address(),
                reason = "ejection time over",
                "endpoint returned"
            );
        }
        next.map(|ns| self.epoch + Duration::from_nanos(ns))
    }

    /// `at` in nanoseconds after the epoch.
    fn nanos(&self, at: Instant) -> u64 {
        as_nanos(at.saturating_duration_since(self.epoch))
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Weak<Endpoint>>> {
        self.endpoints
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Detector {
    fn drop(&mut self) {
        // Lets the task see at once that it has nothing left to do.
        self.wake.notify_one();
    }
}

/// `duration` in nanoseconds (saturating).
fn as_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The task of one detector: interval checks and returns, until the detector is gone.
async fn run(detector: Weak<Detector>, wake: Arc<Notify>, interval: Duration) {
    let mut next_check = Instant::now() + interval;
    let mut next_return: Option<Instant> = None;
    loop {
        let deadline = next_return.map_or(next_check, |r| r.min(next_check));
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = wake.notified() => {}
        }
        let Some(detector) = detector.upgrade() else {
            return;
        };
        next_return = detector.tick(Instant::now(), &mut next_check);
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
