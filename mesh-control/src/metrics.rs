//! mesh-control's own metrics, in the process's [`Metrics`] registry.
//!
//! | metric | what it counts |
//! |---|---|
//! | `mesh_control_connected_clients` | ADS streams open now |
//! | `mesh_control_pushes_total{type}` | responses sent, per resource type |
//! | `mesh_control_push_ack_duration_seconds{type}` | from a response sent to its ACK |
//! | `mesh_control_nacks_total{type}` | responses clients rejected |
//! | `mesh_control_csrs_total{result}` | certificate requests, `signed` or `refused` |
//! | `mesh_control_config_reloads_total{result}` | config directory reloads, `ok` or `error` |
//!
//! `type` is the short name of the xDS resource type (`Listener`, `RouteConfiguration`,
//! `Cluster`, `ClusterLoadAssignment`). Every series exists from the start, at zero, and its
//! handle is looked up once here, not per event.

use mesh_core::telemetry::Metrics;
use mesh_core::xds::type_url;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The four resource types, with the short names that label their series.
const TYPES: [(&str, &str); 4] = [
    (type_url::LISTENER, "Listener"),
    (type_url::ROUTE_CONFIGURATION, "RouteConfiguration"),
    (type_url::CLUSTER, "Cluster"),
    (type_url::CLUSTER_LOAD_ASSIGNMENT, "ClusterLoadAssignment"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// The series of one resource type.
#[derive(Clone, Debug)]
pub(crate) struct TypeMetrics {
    /// Responses sent.
    pub(crate) pushes: Counter,
    /// Responses rejected.
    pub(crate) nacks: Counter,
    /// Seconds from a response sent to its ACK.
    pub(crate) ack_duration: Histogram,
}

/// Every metric of mesh-control; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct ControlMetrics {
    /// Open ADS streams.
    pub(crate) connected_clients: Gauge,
    /// Indexed like [`TYPES`].
    types: [TypeMetrics; 4],
    /// Certificates signed.
    pub(crate) csrs_signed: Counter,
    /// Certificate requests refused.
    pub(crate) csrs_refused: Counter,
    /// Config reloads that loaded a valid config.
    pub(crate) reloads_ok: Counter,
    /// Config reloads that found errors.
    pub(crate) reloads_error: Counter,
}

impl ControlMetrics {
    /// mesh-control's part of `metrics`, registered on first use.
    pub(crate) fn of(metrics: &Metrics) -> Self {
        metrics.part(register)
    }

    /// The series of a resource type, `None` for a type the mesh does not serve.
    pub(crate) fn for_type(&self, type_url: &str) -> Option<&TypeMetrics> {
        let index = TYPES.iter().position(|(url, _)| *url == type_url)?;
        Some(&self.types[index])
    }
}

fn register(registry: &mut Registry) -> ControlMetrics {
    let registry = registry.sub_registry_with_prefix("control");
    let connected_clients = Gauge::default();
    registry.register(
        "connected_clients",
        "ADS streams open now",
        connected_clients.clone(),
    );
    let pushes = Family::<TypeLabel, Counter>::default();
    registry.register(
        "pushes",
        "xDS responses sent, per resource type",
        pushes.clone(),
    );
    // 1 ms to about 33 s.
    let ack_duration = Family::<TypeLabel, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.001, 2.0, 16))
    });
    registry.register(
        "push_ack_duration_seconds",
        "Time from an xDS response sent to the client's ACK of it",
        ack_duration.clone(),
    );
    let nacks = Family::<TypeLabel, Counter>::default();
    registry.register(
        "nacks",
        "xDS responses clients rejected, per resource type",
        nacks.clone(),
    );
    let csrs = Family::<ResultLabel, Counter>::default();
    registry.register(
        "csrs",
        "Certificate signing requests, signed or refused",
        csrs.clone(),
    );
    let reloads = Family::<ResultLabel, Counter>::default();
    registry.register(
        "config_reloads",
        "Reloads of the config directory, ok or error",
        reloads.clone(),
    );
    let types = TYPES.map(|(_, name)| {
        let label = TypeLabel { r#type: name };
        TypeMetrics {
            pushes: pushes.get_or_create_owned(&label),
            nacks: nacks.get_or_create_owned(&label),
            ack_duration: ack_duration.get_or_create_owned(&label),
        }
    });
    let result = |family: &Family<ResultLabel, Counter>, result| {
        family.get_or_create_owned(&ResultLabel { result })
    };
    ControlMetrics {
        connected_clients,
        types,
        csrs_signed: result(&csrs, "signed"),
        csrs_refused: result(&csrs, "refused"),
        reloads_ok: result(&reloads, "ok"),
        reloads_error: result(&reloads, "error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_exists_at_zero_under_the_contract_names() {
        let metrics = Metrics::new();
        let control = ControlMetrics::of(&metrics);
        control
            .for_type(type_url::CLUSTER)
            .expect("a served type")
            .pushes
            .inc();
        assert!(control.for_type("type.googleapis.com/other").is_none());
        let text = metrics.render_text();
        for line in [
            "mesh_control_connected_clients 0",
            "mesh_control_pushes_total{type=\"Cluster\"} 1",
            "mesh_control_pushes_total{type=\"Listener\"} 0",
            "mesh_control_nacks_total{type=\"RouteConfiguration\"} 0",
            "mesh_control_push_ack_duration_seconds_count{type=\"ClusterLoadAssignment\"} 0",
            "mesh_control_csrs_total{result=\"refused\"} 0",
            "mesh_control_config_reloads_total{result=\"ok\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
