//! The xDS client's metrics: is the stream up, what was accepted or rejected, what is held.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `mesh_xds_connected` | gauge | 1 while an ADS stream is open (the server accepted it), else 0 |
//! | `mesh_xds_responses_total{type,result}` | counter | responses ACKed (`ack`) or NACKed (`nack`) |
//! | `mesh_xds_resources{type}` | gauge | subscribed resources of the type held with a value |
//! | `mesh_xds_config_version{type,version}` | gauge | 1 for the version in use (the last ACKed) |
//!
//! `type` is the xDS message name: `Listener`, `RouteConfiguration`, `Cluster` or
//! `ClusterLoadAssignment`. The families are registered once per [`Metrics`] registry; a task
//! looks up each type's series once, so a response costs a few atomic updates.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::telemetry::Metrics;
use crate::xds::decode::ResourceKind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResponseLabels {
    r#type: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    r#type: &'static str,
    version: String,
}

/// The xDS client's families, shared by every client of one registry.
#[derive(Clone)]
struct Families {
    connected: Gauge,
    responses: Family<ResponseLabels, Counter>,
    resources: Family<TypeLabels, Gauge>,
    config_version: Family<VersionLabels, Gauge>,
}

impl Families {
    fn of(metrics: &Metrics) -> Families {
        metrics.part(|registry| {
            let families = Families {
                connected: Gauge::default(),
                responses: Family::default(),
                resources: Family::default(),
                config_version: Family::default(),
            };
            registry.register(
                "xds_connected",
                "Whether the ADS stream to the management server is open (1) or not (0)",
                families.connected.clone(),
            );
            registry.register(
                "xds_responses",
                "xDS responses by resource type and result (ack or nack)",
                families.responses.clone(),
            );
            registry.register(
                "xds_resources",
                "Subscribed xDS resources holding a value, by type",
                families.resources.clone(),
            );
            registry.register(
                "xds_config_version",
                "The xDS version in use (last ACKed) per resource type, as a label; always 1",
                families.config_version.clone(),
            );
            families
        })
    }
}

/// The series of one resource type, looked up once.
struct KindSeries {
    acks: Counter,
    nacks: Counter,
    resources: Gauge,
    /// The version whose `config_version` series exists, if any.
    version: Option<String>,
}

/// What one ADS task updates.
pub(crate) struct XdsMetrics {
    families: Families,
    /// Indexed by `kind as usize` (`ResourceKind::ALL` is in declaration order).
    kinds: [KindSeries; 4],
}

impl XdsMetrics {
    /// The series of a client registering in `metrics`.
    pub(crate) fn new(metrics: &Metrics) -> XdsMetrics {
        let families = Families::of(metrics);
        let kinds = ResourceKind::ALL.map(|kind| {
            let r#type = kind.message_name();
            let result = |result| ResponseLabels { r#type, result };
            KindSeries {
                acks: families.responses.get_or_create_owned(&result("ack")),
                nacks: families.responses.get_or_create_owned(&result("nack")),
                resources: families
                    .resources
                    .get_or_create_owned(&TypeLabels { r#type }),
                version: None,
            }
        });
        XdsMetrics { families, kinds }
    }

    /// The stream opened (`true`) or ended (`false`).
    pub(crate) fn set_connected(&self, connected: bool) {
        self.families.connected.set(i64::from(connected));
    }

    /// A response of `kind` at `version` was ACKed: `version` is now in use.
    pub(crate) fn ack(&mut self, kind: ResourceKind, version: &str) {
        let series = &mut self.kinds[kind as usize];
        series.acks.inc();
        if series.version.as_deref() == Some(version) {
            return;
        }
        let r#type = kind.message_name();
        if let Some(old) = series.version.take() {
            let old = VersionLabels {
                r#type,
                version: old,
            };
            self.families.config_version.remove(&old);
        }
        let new = VersionLabels {
            r#type,
            version: version.to_string(),
        };
        self.families.config_version.get_or_create(&new).set(1);
        series.version = Some(version.to_string());
    }

    /// A response of `kind` was NACKed.
    pub(crate) fn nack(&self, kind: ResourceKind) {
        self.kinds[kind as usize].nacks.inc();
    }

    /// `count` resources of `kind` hold a value.
    pub(crate) fn set_resources(&self, kind: ResourceKind, count: usize) {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        self.kinds[kind as usize].resources.set(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_series() {
        for (index, kind) in ResourceKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, index, "{kind:?}");
        }
    }
}
