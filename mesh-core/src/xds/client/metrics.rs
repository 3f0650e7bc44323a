//! The xDS client's metrics: is the stream up, what was accepted or rejected, what is held.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `mesh_xds_connected` | gauge | ADS streams open (the server accepted them): 1 or 0 for one client |
//! | `mesh_xds_responses_total{type,result}` | counter | responses ACKed (`ack`) or NACKed (`nack`) |
//! | `mesh_xds_resources{type}` | gauge | subscribed resources of the type held with a value |
//! | `mesh_xds_config_version{type,version}` | gauge | clients using the version (the last ACKed): 1 for one client |
//!
//! `type` is the xDS message name: `Listener`, `RouteConfiguration`, `Cluster` or
//! `ClusterLoadAssignment`. The families are registered once per [`Metrics`] registry; a task
//! looks up each type's series once, so a response costs a few atomic updates.
//!
//! Several clients may share a registry (an app's client and its server's), so each one adds
//! its own share to the gauges rather than setting them: connected and resources move by the
//! client's change, a version series counts the clients on it and goes away with the last
//! one. When a client's task ends its share is taken back ([`XdsMetrics`] on drop).

use std::sync::{Arc, Mutex, PoisonError};

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
    /// Held while a client joins or leaves a version, so that a series emptied by one client
    /// is not removed under another joining it.
    versions: Arc<Mutex<()>>,
}

impl Families {
    fn of(metrics: &Metrics) -> Families {
        metrics.part(|registry| {
            let families = Families {
                connected: Gauge::default(),
                responses: Family::default(),
                resources: Family::default(),
                config_version: Family::default(),
                versions: Arc::default(),
            };
            registry.register(
                "xds_connected",
                "ADS streams open to the management server (1 or 0 per xDS client)",
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
                "xDS clients using the version (their last ACKed) per resource type",
                families.config_version.clone(),
            );
            families
        })
    }

    /// One more client uses `version` of `type`.
    fn join(&self, r#type: &'static str, version: &str) {
        let _guard = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        let labels = VersionLabels {
            r#type,
            version: version.to_owned(),
        };
        self.config_version.get_or_create(&labels).inc();
    }

    /// One client fewer uses `version` of `type`; the series goes with the last one.
    fn leave(&self, r#type: &'static str, version: String) {
        let _guard = self.versions.lock().unwrap_or_else(PoisonError::into_inner);
        let labels = VersionLabels { r#type, version };
        let left = self
            .config_version
            .get(&labels)
            .map(|clients| clients.dec() - 1);
        if left.is_some_and(|left| left <= 0) {
            self.config_version.remove(&labels);
        }
    }
}

/// The series of one resource type, looked up once, and this client's share of them.
struct KindSeries {
    acks: Counter,
    nacks: Counter,
    resources: Gauge,
    /// How many resources this client added to `resources`.
    held: i64,
    /// The version this client counts in `config_version`, if any.
    version: Option<String>,
}

/// What one ADS task updates; dropped, it takes the client's share out of the gauges.
pub(crate) struct XdsMetrics {
    families: Families,
    /// Indexed by `kind as usize` (`ResourceKind::ALL` is in declaration order).
    kinds: [KindSeries; 4],
    /// Whether this client counts in `connected`.
    connected: bool,
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
                held: 0,
                version: None,
            }
        });
        XdsMetrics {
            families,
            kinds,
            connected: false,
        }
    }

    /// The stream opened (`true`) or ended (`false`).
    pub(crate) fn set_connected(&mut self, connected: bool) {
        match (self.connected, connected) {
            (false, true) => self.families.connected.inc(),
            (true, false) => self.families.connected.dec(),
            _ => return,
        };
        self.connected = connected;
    }

    /// A response of `kind` at `version` was ACKed: `version` is now in use.
    pub(crate) fn ack(&mut self, kind: ResourceKind, version: &str) {
        let series = &mut self.kinds[kind as usize];
        series.acks.inc();
        if series.version.as_deref() == Some(version) {
            return;
        }
        let r#type = kind.message_name();
        self.families.join(r#type, version);
        if let Some(old) = series.version.replace(version.to_owned()) {
            self.families.leave(r#type, old);
        }
    }

    /// A response of `kind` was NACKed.
    pub(crate) fn nack(&self, kind: ResourceKind) {
        self.kinds[kind as usize].nacks.inc();
    }

    /// `count` resources of `kind` hold a value.
    pub(crate) fn set_resources(&mut self, kind: ResourceKind, count: usize) {
        let series = &mut self.kinds[kind as usize];
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        series.resources.inc_by(count - series.held);
        series.held = count;
    }
}

impl Drop for XdsMetrics {
    fn drop(&mut self) {
        self.set_connected(false);
        for (kind, series) in ResourceKind::ALL.into_iter().zip(&mut self.kinds) {
            series.resources.dec_by(series.held);
            if let Some(version) = series.version.take() {
                self.families.leave(kind.message_name(), version);
            }
        }
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

    fn lines(metrics: &Metrics, prefix: &str) -> Vec<String> {
        let text = metrics.render_text();
        let lines = text.lines().filter(|line| line.starts_with(prefix));
        lines.map(str::to_owned).collect()
    }

    #[test]
    fn clients_sharing_a_registry_add_up_and_take_their_share_back() {
        let metrics = Metrics::new();
        let (mut one, mut two) = (XdsMetrics::new(&metrics), XdsMetrics::new(&metrics));
        let cluster = ResourceKind::Cluster;
        for client in [&mut one, &mut two] {
            client.set_connected(true);
            client.set_connected(true);
            client.ack(cluster, "v1");
        }
        one.set_resources(cluster, 3);
        two.set_resources(cluster, 2);
        two.set_resources(cluster, 1);
        let version = |v: &str, n: u8| {
            format!("mesh_xds_config_version{{type=\"Cluster\",version=\"{v}\"}} {n}")
        };
        assert_eq!(
            lines(&metrics, "mesh_xds_connected"),
            ["mesh_xds_connected 2"]
        );
        assert_eq!(
            lines(&metrics, "mesh_xds_resources{type=\"Cluster\"}"),
            ["mesh_xds_resources{type=\"Cluster\"} 4"]
        );
        assert_eq!(
            lines(&metrics, "mesh_xds_config_version"),
            [version("v1", 2)]
        );

        two.ack(cluster, "v2");
        let mut versions = lines(&metrics, "mesh_xds_config_version");
        versions.sort();
        assert_eq!(versions, [version("v1", 1), version("v2", 1)]);
        one.set_connected(false);
        assert_eq!(
            lines(&metrics, "mesh_xds_connected"),
            ["mesh_xds_connected 1"]
        );

        drop(two);
        assert_eq!(
            lines(&metrics, "mesh_xds_connected"),
            ["mesh_xds_connected 0"]
        );
        assert_eq!(
            lines(&metrics, "mesh_xds_resources{type=\"Cluster\"}"),
            ["mesh_xds_resources{type=\"Cluster\"} 3"]
        );
        assert_eq!(
            lines(&metrics, "mesh_xds_config_version"),
            [version("v1", 1)]
        );
        drop(one);
        assert!(lines(&metrics, "mesh_xds_config_version").is_empty());
        assert_eq!(
            lines(&metrics, "mesh_xds_resources{type=\"Cluster\"}"),
            ["mesh_xds_resources{type=\"Cluster\"} 0"]
        );
    }
}
