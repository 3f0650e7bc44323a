//! mesh-control's own metrics, in the process's [`Metrics`] registry.
//!
//! | metric | what it counts |
//! |---|---|
//! | `mesh_control_connected_clients` | ADS streams open now |
//! | `mesh_control_pushes_total{type}` | responses sent, per resource type |
//! | `mesh_control_push_ack_duration_seconds{type}` | from a response sent to its ACK |
//! | `mesh_control_nacks_total{type}` | responses clients rejected |
//! | `mesh_control_csrs_total{result}` | certificate requests: `signed`, `refused` (the caller's fault), or `error` (the CA's) |
//! | `mesh_control_config_reloads_total{result}` | config directory reloads, `ok` or `error` |
//!
//! `type` is the resource type name of [`RESOURCE_TYPES`] (`Listener`, `RouteConfiguration`,
//! `Cluster`, `ClusterLoadAssignment`). Every series exists from the start, at zero, and its
//! handle is looked up once here, not per event.

use mesh_core::telemetry::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::resource_types::RESOURCE_TYPES;

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
    /// Indexed like [`RESOURCE_TYPES`].
    types: [TypeMetrics; 4],
    /// Certificates signed.
    pub(crate) csrs_signed: Counter,
    /// Certificate requests refused for the caller's fault (credential, CSR).
    pub(crate) csrs_refused: Counter,
    /// Certificate requests the CA failed to sign (an internal error).
    pub(crate) csrs_error: Counter,
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

    /// The series of the resource type at `index` of [`RESOURCE_TYPES`].
    pub(crate) fn for_type(&self, index: usize) -> &TypeMetrics {
        &self.types[index]
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
        "Certificate signing requests, signed, refused or failed with an error",
        csrs.clone(),
    );
    let reloads = Family::<ResultLabel, Counter>::default();
    registry.register(
        "config_reloads",
        "Reloads of the config directory, ok or error",
        reloads.clone(),
    );
    let types = RESOURCE_TYPES.map(|t| {
        let label = TypeLabel { r#type: t.metric };
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
        csrs_error: result(&csrs, "error"),
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
        let cluster = crate::resource_types::index_of(mesh_core::xds::type_url::CLUSTER);
        control
            .for_type(cluster.expect("a served type"))
            .pushes
            .inc();
        let text = metrics.render_text();
        for line in [
            "mesh_control_connected_clients 0",
            "mesh_control_pushes_total{type=\"Cluster\"} 1",
            "mesh_control_pushes_total{type=\"Listener\"} 0",
            "mesh_control_nacks_total{type=\"RouteConfiguration\"} 0",
            "mesh_control_push_ack_duration_seconds_count{type=\"ClusterLoadAssignment\"} 0",
            "mesh_control_csrs_total{result=\"refused\"} 0",
            "mesh_control_csrs_total{result=\"error\"} 0",
            "mesh_control_config_reloads_total{result=\"ok\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
