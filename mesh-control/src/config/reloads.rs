//! What hot reload did: counted in `mesh_control_config_reloads_total{result}`, and the
//! errors of the last failed reload kept for the admin endpoint until a reload succeeds.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use mesh_core::telemetry::Metrics;

use crate::metrics::ControlMetrics;

/// A reload that failed (errors in the config, or a load that did not finish); the last good
/// config stayed in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReloadFailure {
    /// When it happened.
    pub at: SystemTime,
    /// Every error, one per line, with file and line.
    pub errors: String,
}

/// The outcome of the reloads of one config directory. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Reloads {
    metrics: ControlMetrics,
    last_failure: Arc<Mutex<Option<ReloadFailure>>>,
}

impl Reloads {
    /// Counts reloads in `metrics`.
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            metrics: ControlMetrics::of(metrics),
            last_failure: Arc::default(),
        }
    }

    fn failure(&self) -> MutexGuard<'_, Option<ReloadFailure>> {
        // Plain data: a panic elsewhere leaves it usable.
        self.last_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a reload that loaded a valid config.
    pub(crate) fn succeeded(&self) {
        self.metrics.reloads_ok.inc();
        *self.failure() = None;
    }

    /// Records a reload that failed with `errors`, one per line.
    pub(crate) fn failed(&self, errors: String) {
        self.metrics.reloads_error.inc();
        *self.failure() = Some(ReloadFailure {
            at: SystemTime::now(),
            errors,
        });
    }

    /// The last reload's errors, if it failed.
    pub fn last_failure(&self) -> Option<ReloadFailure> {
        self.failure().clone()
    }
}
