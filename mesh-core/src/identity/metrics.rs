//! The identity's metrics: when the certificate expires, and how renewals go.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `mesh_identity_cert_expiry_timestamp_seconds{spiffe_id}` | gauge | the current certificate's `not_after`, in Unix seconds |
//! | `mesh_identity_rotations_total` | counter | certificates replaced by a renewed one |
//! | `mesh_identity_renewal_failures_total` | counter | renewal requests that failed (each retry counts) |
//!
//! Only identities issued by the CA ([`super::IdentityBuilder`]) report them; fixed credentials
//! ([`super::Identity::from_pem`]) never change, so there is nothing to watch but their expiry,
//! which their files already say.
//!
//! An identity's expiry series lives as long as its renewal task: [`IdentityMetrics`] removes
//! it when dropped with the task, so a dropped identity leaves no stale expiry behind.

use std::time::UNIX_EPOCH;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use super::Svid;
use crate::telemetry::Metrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdLabels {
    spiffe_id: String,
}

/// The identity families of one registry.
#[derive(Clone)]
struct Families {
    expiry: Family<IdLabels, Gauge>,
    rotations: Counter,
    renewal_failures: Counter,
}

/// What one identity records: the shared families and its own expiry series, which it
/// removes when dropped.
pub(crate) struct IdentityMetrics {
    families: Families,
    /// The labels of the expiry series this identity set, if any.
    current: Option<IdLabels>,
}

impl IdentityMetrics {
    /// The metrics of an identity recording in `metrics` (families registered on first use).
    pub(crate) fn new(metrics: &Metrics) -> IdentityMetrics {
        let families = metrics.part(|registry| {
            let part = Families {
                expiry: Family::default(),
                rotations: Counter::default(),
                renewal_failures: Counter::default(),
            };
            registry.register(
                "identity_cert_expiry_timestamp_seconds",
                "When the workload certificate expires, in Unix seconds",
                part.expiry.clone(),
            );
            registry.register(
                "identity_rotations",
                "Workload certificates replaced by a renewed one",
                part.rotations.clone(),
            );
            registry.register(
                "identity_renewal_failures",
                "Failed requests to renew the workload certificate",
                part.renewal_failures.clone(),
            );
            part
        });
        IdentityMetrics {
            families,
            current: None,
        }
    }

    /// `svid` is the current certificate, replacing the previous one (if any).
    pub(crate) fn certificate(&mut self, svid: &Svid) {
        let labels = IdLabels {
            spiffe_id: svid.spiffe_id.to_string(),
        };
        if let Some(previous) = self.current.take()
            && previous != labels
        {
            self.families.expiry.remove(&previous);
        }
        let not_after = svid
            .not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        self.families.expiry.get_or_create(&labels).set(not_after);
        self.current = Some(labels);
    }

    /// A renewed certificate replaced the current one.
    pub(crate) fn rotated(&self) {
        self.families.rotations.inc();
    }

    /// A renewal request failed.
    pub(crate) fn renewal_failed(&self) {
        self.families.renewal_failures.inc();
    }
}

impl Drop for IdentityMetrics {
    fn drop(&mut self) {
        if let Some(labels) = self.current.take() {
            self.families.expiry.remove(&labels);
        }
    }
}
