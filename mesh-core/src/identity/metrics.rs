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
pub(crate) struct IdentityMetrics {
    expiry: Family<IdLabels, Gauge>,
    rotations: Counter,
    renewal_failures: Counter,
}

impl IdentityMetrics {
    /// The families of `metrics`, registered on first use.
    pub(crate) fn new(metrics: &Metrics) -> IdentityMetrics {
        metrics.part(|registry| {
            let part = IdentityMetrics {
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
        })
    }

    /// `svid` is the current certificate (replacing `previous`, if any).
    pub(crate) fn certificate(&self, svid: &Svid, previous: Option<&Svid>) {
        if let Some(previous) = previous
            && previous.spiffe_id != svid.spiffe_id
        {
            self.expiry.remove(&labels(previous));
        }
        let not_after = svid
            .not_after
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
            });
        self.expiry.get_or_create(&labels(svid)).set(not_after);
    }

    /// A renewed certificate replaced the current one.
    pub(crate) fn rotated(&self) {
        self.rotations.inc();
    }

    /// A renewal request failed.
    pub(crate) fn renewal_failed(&self) {
        self.renewal_failures.inc();
    }
}

fn labels(svid: &Svid) -> IdLabels {
    IdLabels {
        spiffe_id: svid.spiffe_id.to_string(),
    }
}
