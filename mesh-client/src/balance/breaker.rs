//! The circuit breaker of a cluster (gRFC A32 plus Envoy's pending limit): a bound on its
//! requests in flight.
//!
//! A request takes a [`Permit`] for its whole call, retries included, and gives it back when
//! the permit drops. At `max_requests` permits out, up to `max_pending` more requests wait for
//! one, in order; any beyond fail at once with [`Error::CircuitBreakerOpen`], so that a caller
//! overloading a cluster hears about it instead of queueing without bound.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mesh_core::model::CircuitBreaker;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Error;
use crate::counters::Counters;

/// The circuit breaker of one cluster.
#[derive(Debug)]
pub(crate) struct Breaker {
    cluster: Arc<str>,
    limits: CircuitBreaker,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicU32>,
    counters: Arc<Counters>,
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
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: OwnedSemaphorePermit,
}

impl Breaker {
    /// A breaker with these limits for `cluster`; refusals are counted in `counters`.
    pub(crate) fn new(cluster: Arc<str>, limits: CircuitBreaker, counters: Arc<Counters>) -> Self {
        let max_requests = usize::try_from(limits.max_requests)
            .unwrap_or(Semaphore::MAX_PERMITS)
            .min(Semaphore::MAX_PERMITS);
        Self {
            cluster,
            limits,
            permits: Arc::new(Semaphore::new(max_requests)),
            waiting: Arc::new(AtomicU32::new(0)),
            counters,
        }
    }

    /// A slot for one request: at once, after a wait, or refused when the cluster is full.
    pub(crate) fn admit(&self) -> Result<Admission, Error> {
        if let Ok(slot) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(Admission::Now(Permit { _slot: slot }));
        }
        let max_pending = self.limits.max_pending;
        let joined = self
            .waiting
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                (w < max_pending).then_some(w + 1)
            });
        if joined.is_err() {
            Counters::bump(&self.counters.breaker_overflows);
            return Err(Error::CircuitBreakerOpen {
                cluster: self.cluster.to_string(),
                max_requests: self.limits.max_requests,
                max_pending,
            });
        }
        let waiting = Waiting(Arc::clone(&self.waiting));
        let permits = Arc::clone(&self.permits);
        Ok(Admission::Queued(Box::pin(async move {
            let slot = permits
                .acquire_owned()
                .await
                .expect("a breaker's semaphore is never closed");
            drop(waiting);
            Permit { _slot: slot }
        })))
    }
}

/// A place in the queue, given back when dropped (admitted or given up).
struct Waiting(Arc<AtomicU32>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
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
        assert_eq!(b.waiting.load(Ordering::Relaxed), 0);
        assert!(
            matches!(b.admit(), Ok(Admission::Queued(_))),
            "the slot is taken again"
        );
        assert_eq!(counters.breaker_overflows.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_waiter_that_gives_up_frees_its_place() {
        let (b, _) = breaker(1, 1);
        let _first = now(b.admit());
        drop(queued(b.admit()));
        drop(queued(b.admit()));
        assert_eq!(b.waiting.load(Ordering::Relaxed), 0);
    }
}
