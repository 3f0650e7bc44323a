//! The circuit breaker of a cluster (gRFC A32 plus Envoy's pending limit): a bound on its
//! requests in flight.
//!
//! A request takes a [`Permit`] for its whole call, retries included, and gives it back when
//! the permit drops: when its response body ends (or is dropped), or when it fails. At
//! `max_requests` permits out, up to `max_pending` more requests wait for one; any beyond fail
//! at once with [`Error::CircuitBreakerOpen`], so that a caller overloading a cluster hears
//! about it instead of queueing without bound.
//!
//! The common case is two atomic operations on a counter of permits out: one to take a
//! permit, one to give it back. Only a full cluster makes waiters, which sleep on a
//! [`Notify`] that a returned permit wakes, oldest first (a request arriving just as a permit
//! returns may take it before them).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mesh_core::model::CircuitBreaker;
use tokio::sync::Notify;

use crate::Error;
use crate::counters::Counters;
use crate::telemetry::ClusterEvent;

/// The circuit breaker of one cluster.
#[derive(Debug)]
pub(crate) struct Breaker {
    cluster: Arc<str>,
    limits: CircuitBreaker,
    slots: Arc<Slots>,
    counters: Arc<Counters>,
}

/// The permits out and the requests waiting for one, shared with the permits.
#[derive(Debug)]
struct Slots {
    max_requests: u32,
    in_flight: AtomicU32,
    waiting: AtomicU32,
    /// Wakes a waiter when a permit returns while someone waits.
    returned: Notify,
}

impl Slots {
    /// Takes a permit if fewer than `max_requests` are out.
    fn try_take(self: &Arc<Self>) -> Option<Permit> {
        // SeqCst with `Permit::drop`: a waiter either sees the permit returned, or is counted
        // in `waiting` before the returner looks, and so is woken.
        self.in_flight
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |n| {
                (n < self.max_requests).then_some(n + 1)
            })
            .ok()
            .map(|_| Permit {
                slots: Arc::clone(self),
            })
    }
}

/// The answer of a circuit breaker that did not refuse a request.
pub(crate) enum Admission {
    /// Go ahead.
    Now(Permit),
    /// Wait for this, then go ahead.
    Queued(Pin<Box<dyn Future<Output = Permit> + Send>>),
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Admission::Now(permit) => f.debug_tuple("Now").field(permit).finish(),
            Admission::Queued(_) => f.write_str("Queued"),
        }
    }
}

/// A request's slot in its cluster, held until dropped.
pub(crate) struct Permit {
    slots: Arc<Slots>,
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Permit")
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let slots = &self.slots;
        slots.in_flight.fetch_sub(1, Ordering::SeqCst);
        if slots.waiting.load(Ordering::SeqCst) > 0 {
            slots.returned.notify_one();
        }
    }
}

impl Breaker {
    /// A breaker with these limits for `cluster`; refusals are counted in `counters`.
    pub(crate) fn new(cluster: Arc<str>, limits: CircuitBreaker, counters: Arc<Counters>) -> Self {
        Self {
            cluster,
            limits,
            slots: Arc::new(Slots {
                max_requests: limits.max_requests,
                in_flight: AtomicU32::new(0),
                waiting: AtomicU32::new(0),
                returned: Notify::new(),
            }),
            counters,
        }
    }

    /// A slot for one request: at once, after a wait, or refused when the cluster is full.
    pub(crate) fn admit(&self) -> Result<Admission, Error> {
        if let Some(permit) = self.slots.try_take() {
            return Ok(Admission::Now(permit));
        }
        let max_pending = self.limits.max_pending;
        let joined = self
            .slots
            .waiting
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
                (w < max_pending).then_some(w + 1)
            });
        if joined.is_err() {
            self.counters
                .cluster_event(ClusterEvent::Overflow, &self.cluster);
            return Err(Error::CircuitBreakerOpen {
                cluster: self.cluster.to_string(),
                max_requests: self.limits.max_requests,
                max_pending,
            });
        }
        let waiting = Waiting(Arc::clone(&self.slots));
        Ok(Admission::Queued(Box::pin(async move {
            let slots = &waiting.0;
            loop {
                let returned = slots.returned.notified();
                tokio::pin!(returned);
                // Registered before trying, so a permit returned in between wakes it.
                returned.as_mut().enable();
                if let Some(permit) = slots.try_take() {
                    return permit;
                }
                returned.await;
            }
        })))
    }
}

/// A place in the queue, given back when dropped (admitted or given up).
struct Waiting(Arc<Slots>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll, Waker};

    fn breaker(max_requests: u32, max_pending: u32) -> (Breaker, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        let limits = CircuitBreaker {
            max_requests,
            max_pending,
        };
        (
            Breaker::new("serviceb".into(), limits, Arc::clone(&counters)),
            counters,
        )
    }

    fn now(admission: Result<Admission, Error>) -> Permit {
        match admission {
            Ok(Admission::Now(permit)) => permit,
            other => panic!("expected a permit at once, got {other:?}"),
        }
    }

    fn queued(admission: Result<Admission, Error>) -> Pin<Box<dyn Future<Output = Permit> + Send>> {
        match admission {
            Ok(Admission::Queued(wait)) => wait,
            other => panic!("expected to wait, got {other:?}"),
        }
    }

    fn poll(wait: &mut Pin<Box<dyn Future<Output = Permit> + Send>>) -> Poll<Permit> {
        wait.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn past_max_requests_with_no_pending_the_next_is_refused_at_once() {
        let (b, counters) = breaker(3, 0);
        let permits: Vec<Permit> = (0..3).map(|_| now(b.admit())).collect();
        let err = b.admit().unwrap_err();
        assert!(err.is_circuit_breaker_open() && err.is_unavailable());
        assert_eq!(
            err.to_string(),
            "UNAVAILABLE: circuit breaker open: cluster \"serviceb\" has 3 requests in flight \
             and 0 waiting, its limits; the circuit breaker refused this request"
        );
        assert_eq!(tonic::Status::from(err).code(), tonic::Code::Unavailable);
        assert_eq!(counters.breaker_overflows.load(Ordering::Relaxed), 1);
        drop(permits);
        now(b.admit());
    }

    #[tokio::test]
    async fn a_waiting_request_takes_the_first_slot_freed() {
        let (b, counters) = breaker(1, 1);
        let first = now(b.admit());
        let mut second = queued(b.admit());
        assert!(poll(&mut second).is_pending());
        assert!(
            b.admit().unwrap_err().is_circuit_breaker_open(),
            "the queue is full"
        );
        drop(first);
        let Poll::Ready(_second) = poll(&mut second) else {
            panic!("the freed slot went to the waiting request");
        };
        assert_eq!(b.slots.waiting.load(Ordering::Relaxed), 0);
        assert!(
            matches!(b.admit(), Ok(Admission::Queued(_))),
            "the slot is taken again"
        );
        assert_eq!(counters.breaker_overflows.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn contending_requests_never_exceed_the_limit_and_all_get_through() {
        let (b, counters) = breaker(3, 1_000);
        let b = Arc::new(b);
        let peak = Arc::new(AtomicU32::new(0));
        let calls = (0..200).map(|_| {
            let (b, peak) = (Arc::clone(&b), Arc::clone(&peak));
            tokio::spawn(async move {
                let _permit = match b.admit().unwrap() {
                    Admission::Now(permit) => permit,
                    Admission::Queued(wait) => wait.await,
                };
                let out = b.slots.in_flight.load(Ordering::SeqCst);
                peak.fetch_max(out, Ordering::SeqCst);
                tokio::task::yield_now().await;
            })
        });
        let all = futures_util::future::join_all(calls);
        let done = tokio::time::timeout(std::time::Duration::from_secs(30), all)
            .await
            .expect("no waiter is left asleep with a permit free");
        assert!(done.iter().all(Result::is_ok));
        assert!(peak.load(Ordering::SeqCst) <= 3, "{peak:?} permits out");
        assert_eq!(b.slots.in_flight.load(Ordering::SeqCst), 0);
        assert_eq!(b.slots.waiting.load(Ordering::SeqCst), 0);
        assert_eq!(counters.breaker_overflows.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_waiter_that_gives_up_frees_its_place() {
        let (b, _) = breaker(1, 1);
        let _first = now(b.admit());
        drop(queued(b.admit()));
        drop(queued(b.admit()));
        assert_eq!(b.slots.waiting.load(Ordering::Relaxed), 0);
    }
}
