//! Power of two choices: draw two distinct endpoints at random and take the cheaper.
//!
//! It avoids slow and busy endpoints without the herd effect of always taking the global
//! minimum, and needs no coordination between requests. The cost is the peak-EWMA latency times
//! load (the default policy) or just the requests in flight (A48 least request, choice count 2).

use std::sync::Arc;

use rand::Rng;

use super::Endpoint;
use super::filter::Filter;

/// The cheaper by `cost` of two distinct random endpoints that pass `filter` (the only one if
/// one passes, none if none does).
pub(super) fn pick<'a, C: PartialOrd>(
    endpoints: &'a [Arc<Endpoint>],
    filter: Filter,
    rng: &mut impl Rng,
    cost: impl Fn(&Endpoint) -> C,
) -> Option<&'a Arc<Endpoint>> {
    let passing = || endpoints.iter().filter(move |e| filter.admits(e));
    let nth = |k: usize| {
        if filter.is_any() {
            endpoints.get(k)
        } else {
            passing().nth(k)
        }
    };
    let n = if filter.is_any() {
        endpoints.len()
    } else {
        passing().count()
    };
    match n {
        0 => None,
        1 => nth(0),
        _ => {
            let i = rng.random_range(0..n);
            let mut j = rng.random_range(0..n - 1);
            if j >= i {
                j += 1;
            }
            let (a, b) = (nth(i)?, nth(j)?);
            Some(if cost(b) < cost(a) { b } else { a })
        }
    }
}
