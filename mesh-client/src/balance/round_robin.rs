//! Round robin: each endpoint in turn, as often as its weight says.
//!
//! The order is a schedule computed once per endpoint set by smooth weighted round robin (as
//! nginx): weights `3, 1` give `a a b a`, spreading an endpoint's turns rather than bunching
//! them. Weights are first divided by their greatest common divisor and, past
//! [`MAX_SCHEDULE`] entries, scaled down (each endpoint keeps at least one turn). A shared
//! atomic cursor walks the schedule; it survives endpoint-set updates and starts at a random
//! place, so that clients do not move in lock step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::filter::Filter;
use super::{Endpoint, gcd};

/// The most entries a schedule has (unless there are more endpoints).
const MAX_SCHEDULE: u64 = 4096;

/// A weighted round robin over one endpoint set.
#[derive(Clone, Debug)]
pub(super) struct RoundRobin {
    /// Indices into the endpoint set.
    schedule: Arc<[u32]>,
    cursor: Arc<AtomicUsize>,
}

impl RoundRobin {
    /// A round robin over endpoints of these `weights`, walked by `cursor`.
    pub(super) fn new(weights: &[u32], cursor: Arc<AtomicUsize>) -> Self {
        Self {
            schedule: schedule(weights).into(),
            cursor,
        }
    }

    /// The next endpoint in turn that passes `filter`; `endpoints` are those the weights were
    /// given for, in the same order.
    pub(super) fn pick<'a>(
        &self,
        endpoints: &'a [Arc<Endpoint>],
        filter: Filter,
    ) -> Option<&'a Arc<Endpoint>> {
        let len = self.schedule.len();
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        for step in 0..len {
            let index = self.schedule[start.wrapping_add(step) % len] as usize;
            let Some(endpoint) = endpoints.get(index) else {
                continue;
            };
            if filter.admits(endpoint) {
                if step > 0 {
                    // The skipped turns are spent, so the next endpoint does not get two.
                    self.cursor.fetch_add(step, Ordering::Relaxed);
                }
                return Some(endpoint);
            }
        }
        // No turn taken: the pick will be made again with a looser filter.
        self.cursor.fetch_sub(1, Ordering::Relaxed);
        None
    }
}

/// The order of turns for endpoints of `weights`, by smooth weighted round robin.
fn schedule(weights: &[u32]) -> Vec<u32> {
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let mut weights: Vec<u64> = weights.iter().map(|&w| u64::from(w / divisor)).collect();
    let cap = MAX_SCHEDULE.max(weights.len() as u64);
    let total: u64 = weights.iter().sum();
    if total > cap {
        for w in &mut weights {
            *w = (*w * cap / total).max(1);
        }
    }
    if weights.iter().all(|&w| w == 1) {
        return (0..weights.len() as u32).collect();
    }
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(&weights) {
            *c += w as i64;
        }
        let best = (1..current.len()).fold(
            0,
            |best, i| {
                if current[i] > current[best] { i } else { best }
            },
        );
        current[best] -= total;
        order.push(best as u32);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::DEFAULT_DECAY;

    fn endpoints(n: u16) -> Vec<Arc<Endpoint>> {
        (1..=n)
            .map(|port| {
                Arc::new(Endpoint::new(
                    "c".into(),
                    ([10, 0, 0, 1], port).into(),
                    DEFAULT_DECAY,
                    None,
                ))
            })
            .collect()
    }

    fn turns(rr: &RoundRobin, endpoints: &[Arc<Endpoint>], filter: Filter, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| rr.pick(endpoints, filter).unwrap().address().port())
            .collect()
    }

    #[test]
    fn equal_weights_take_turns() {
        let eps = endpoints(3);
        let rr = RoundRobin::new(&[5, 5, 5], Arc::new(AtomicUsize::new(0)));
        assert_eq!(turns(&rr, &eps, Filter::ANY, 6), [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn weights_spread_the_turns() {
        assert_eq!(schedule(&[3, 1]), [0, 0, 1, 0]);
        assert_eq!(schedule(&[6, 2]), [0, 0, 1, 0], "divided by the gcd");
        let eps = endpoints(3);
        let rr = RoundRobin::new(&[1, 2, 5], Arc::new(AtomicUsize::new(7)));
        let mut counts = [0; 3];
        for port in turns(&rr, &eps, Filter::ANY, 8_000) {
            counts[usize::from(port - 1)] += 1;
        }
        assert_eq!(counts, [1_000, 2_000, 5_000]);
    }

    #[test]
    fn huge_weights_are_scaled_down_keeping_every_endpoint() {
        let order = schedule(&[1_000_000, 1, 3_000_000]);
        assert!(order.len() as u64 <= MAX_SCHEDULE + 3, "{}", order.len());
        let count = |i| order.iter().filter(|&&o| o == i).count();
        assert_eq!(count(1), 1);
        assert!((count(2) as f64 / count(0) as f64 - 3.0).abs() < 0.01);
    }

    #[test]
    fn skipped_endpoints_do_not_double_the_next_ones_share() {
        let eps = endpoints(4);
        let rr = RoundRobin::new(&[1; 4], Arc::new(AtomicUsize::new(0)));
        let tried = [eps[1].address()];
        let avoid_2 = Filter::chain(&tried, false).next().unwrap();
        let picks = turns(&rr, &eps, avoid_2, 6);
        assert_eq!(picks, [1, 3, 4, 1, 3, 4]);
    }

    #[test]
    fn nothing_passing_is_none() {
        let eps = endpoints(1);
        let rr = RoundRobin::new(&[1], Arc::new(AtomicUsize::new(0)));
        let tried = [eps[0].address()];
        let avoid = Filter::chain(&tried, false).next().unwrap();
        assert!(rr.pick(&eps, avoid).is_none());
        assert!(
            RoundRobin::new(&[], Arc::default())
                .pick(&[], Filter::ANY)
                .is_none()
        );
    }
}
