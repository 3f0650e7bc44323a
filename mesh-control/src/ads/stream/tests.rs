//! The protocol state of one stream, driven request by request: which reply answers a
//! response, and what is counted.

use envoy_types::pb::google::rpc;
use mesh_core::telemetry::Metrics;

use super::*;
use crate::ads::{ClientRegistry, SyncState};
use crate::registry::RegisteredEndpoints;
use crate::snapshot::BuildSettings;
use crate::snapshot::tests::one_service;

/// LDS, in [`RESOURCE_TYPES`].
const LDS: usize = 0;

struct Harness {
    registry: ClientRegistry,
    metrics: Metrics,
    state: StreamState,
    snapshot: Snapshot,
}

fn start() -> Harness {
    let registry = ClientRegistry::new();
    let metrics = Metrics::new();
    let state = StreamState::new(
        "n1",
        registry.connect("n1", None),
        ControlMetrics::of(&metrics),
    );
    let snapshot = Snapshot::build(
        &one_service(),
        &RegisteredEndpoints::default(),
        &BuildSettings::default(),
    );
    Harness {
        registry,
        metrics,
        state,
        snapshot,
    }
}

fn request(names: &[&str], answering: Option<&DiscoveryResponse>) -> DiscoveryRequest {
    DiscoveryRequest {
        type_url: type_url::LISTENER.into(),
        resource_names: names.iter().map(|n| n.to_string()).collect(),
        version_info: answering
            .map(|r| r.version_info.clone())
            .unwrap_or_default(),
        response_nonce: answering.map(|r| r.nonce.clone()).unwrap_or_default(),
        ..Default::default()
    }
}

fn nack(names: &[&str], answering: &DiscoveryResponse) -> DiscoveryRequest {
    DiscoveryRequest {
        error_detail: Some(rpc::Status {
            code: 3,
            message: "bad listener".into(),
            details: Vec::new(),
        }),
        ..request(names, Some(answering))
    }
}

impl Harness {
    fn on_request(&mut self, request: &DiscoveryRequest) -> Option<DiscoveryResponse> {
        self.state.on_request(request, &self.snapshot)
    }

    fn state(&self) -> Option<SyncState> {
        self.registry
            .map_newest("n1", |c| c.types[LDS].state())
            .expect("connected")
    }

    /// The value of one LDS series of mesh-control.
    fn lds_metric(&self, name: &str) -> String {
        let text = self.metrics.render_text();
        let prefix = format!("{name}{{type=\"Listener\"}} ");
        text.lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
            .to_string()
    }
}

#[test]
fn a_name_change_after_a_nack_neither_clears_nor_counts_it() {
    let mut h = start();
    let first = h.on_request(&request(&["serviceb"], None)).unwrap();
    assert_eq!(h.state(), Some(SyncState::Stale));
    assert!(h.on_request(&nack(&["serviceb"], &first)).is_none());
    assert_eq!(h.state(), Some(SyncState::Nacked));
    assert_eq!(h.lds_metric("mesh_control_nacks_total"), "1");

    // The same nonce again, without error_detail, with one more name.
    let second = h.on_request(&request(&["serviceb", "serviceb.demo"], Some(&first)));
    let second = second.expect("a name change is answered");
    assert_eq!(second.resources.len(), 2);
    assert_eq!(h.state(), Some(SyncState::Nacked));
    assert_eq!(h.lds_metric("mesh_control_nacks_total"), "1");
    assert_eq!(
        h.lds_metric("mesh_control_push_ack_duration_seconds_count"),
        "0"
    );

    h.on_request(&request(&["serviceb", "serviceb.demo"], Some(&second)));
    assert_eq!(h.state(), Some(SyncState::Synced));
    assert_eq!(
        h.lds_metric("mesh_control_push_ack_duration_seconds_count"),
        "1"
    );
}

#[test]
fn an_ack_is_counted_once_and_a_resend_of_the_same_version_is_stale() {
    let mut h = start();
    let first = h.on_request(&request(&["serviceb"], None)).unwrap();
    assert!(
        h.on_request(&request(&["serviceb"], Some(&first)))
            .is_none()
    );
    assert_eq!(h.state(), Some(SyncState::Synced));
    // A repeat of the ACK is no new answer.
    assert!(
        h.on_request(&request(&["serviceb"], Some(&first)))
            .is_none()
    );
    assert_eq!(
        h.lds_metric("mesh_control_push_ack_duration_seconds_count"),
        "1"
    );

    let second = h.on_request(&request(&["serviceb", "serviceb.demo"], Some(&first)));
    let second = second.expect("a name change is answered");
    assert_eq!(second.version_info, first.version_info);
    assert_eq!(
        h.state(),
        Some(SyncState::Stale),
        "same version, other nonce"
    );
    assert_eq!(h.lds_metric("mesh_control_pushes_total"), "2");
}

#[test]
fn the_same_snapshot_pushes_nothing_and_names_are_recorded() {
    let mut h = start();
    let first = h.on_request(&request(&["serviceb", "nope"], None)).unwrap();
    assert_eq!(first.resources.len(), 1, "only what exists is sent");
    let snapshot = h.snapshot.clone();
    assert!(h.state.on_snapshot(&snapshot).is_empty());
    assert_eq!(h.lds_metric("mesh_control_pushes_total"), "1");
    let names = h
        .registry
        .map_newest("n1", |c| c.types[LDS].sent_names.clone())
        .unwrap();
    assert_eq!(names, [Arc::from("serviceb")]);
}
