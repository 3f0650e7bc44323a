//! The retry delays of the mesh's background work (xDS reconnects, certificate requests):
//! exponential, with jitter so that many apps do not retry in step, and without end.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// Delays from `min` doubling up to `max`, each with jitter, for as long as asked.
pub(crate) fn exponential(min: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
        .build()
}
