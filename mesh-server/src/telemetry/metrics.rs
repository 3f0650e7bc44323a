//! The server's metric families, registered once per [`Metrics`] registry, and the handles a
//! connection keeps so that each request only looks up the series of its method and status.

use std::sync::Arc;
use std::time::Duration;

use mesh_core::telemetry::Metrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{MethodLabel, Protocol, Status};
use crate::peer::PeerId;

/// The upper bounds of the request-duration buckets, in seconds: 100 µs to 10 s.
const DURATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The caller's SPIFFE ID as a label value: `""` for a plaintext caller.
type PeerLabel = Option<Arc<str>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: Protocol,
    method: MethodLabel,
    peer: PeerLabel,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    protocol: Protocol,
    method: MethodLabel,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeniedLabels {
    peer: PeerLabel,
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TlsLabels {
    tls: bool,
}

type DurationFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

/// The `mesh_server_*` families of one registry.
#[derive(Clone, Debug)]
pub(crate) struct ServerMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    in_flight: Gauge,
    denied: Family<DeniedLabels, Counter>,
    rate_limited: Counter,
    connections: Family<TlsLabels, Counter>,
}

impl ServerMetrics {
    /// The server families of `metrics`, registered on first use.
    pub(crate) fn of(metrics: &Metrics) -> Self {
        metrics.part(register)
    }

    /// Counts an accepted connection and returns the handles its requests record with.
    pub(crate) fn connection(&self, tls: bool, peer: Option<&PeerId>) -> ConnectionMetrics {
        self.connections.get_or_create(&TlsLabels { tls }).inc();
        ConnectionMetrics {
            requests: self.requests.clone(),
            duration: self.duration.clone(),
            in_flight: self.in_flight.clone(),
            peer: peer.map(|PeerId(id)| Arc::clone(id)),
        }
    }

    /// Counts a call the authorization denied by `rule` (`None`: the default action).
    pub(crate) fn denied(&self, peer: Option<&PeerId>, rule: Option<&str>) {
        let labels = DeniedLabels {
            peer: peer.map(|PeerId(id)| Arc::clone(id)),
            rule: rule.unwrap_or("default").to_string(),
        };
        self.denied.get_or_create(&labels).inc();
    }

    /// Counts a call the rate limit refused.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }
}

fn register(registry: &mut Registry) -> ServerMetrics {
    let metrics = ServerMetrics {
        requests: Family::default(),
        duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
        in_flight: Gauge::default(),
        denied: Family::default(),
        rate_limited: Counter::default(),
        connections: Family::default(),
    };
    registry.register(
        "server_requests",
        "Requests the server answered, counted when the response ends",
        metrics.requests.clone(),
    );
    registry.register_with_unit(
        "server_request_duration",
        "Time from a request's arrival to the end of its response",
        Unit::Seconds,
        metrics.duration.clone(),
    );
    registry.register(
        "server_requests_in_flight",
        "Requests whose response has not ended yet",
        metrics.in_flight.clone(),
    );
    registry.register(
        "server_denied",
        "Calls refused by the authorization, by caller and deciding rule",
        metrics.denied.clone(),
    );
    registry.register(
        "server_rate_limited",
        "Calls refused by the local rate limit",
        metrics.rate_limited.clone(),
    );
    registry.register(
        "server_connections",
        "Connections accepted, over mTLS or not",
        metrics.connections.clone(),
    );
    metrics
}

/// What the requests of one connection record with: the families, and the caller's label
/// rendered once.
#[derive(Debug)]
pub(crate) struct ConnectionMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    in_flight: Gauge,
    peer: PeerLabel,
}

impl ConnectionMetrics {
    /// A request arrived.
    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    /// A request's response ended with `status` after `elapsed`.
    pub(crate) fn ended(
        &self,
        protocol: Protocol,
        method: MethodLabel,
        status: Status,
        elapsed: Duration,
    ) {
        self.in_flight.dec();
        let labels = DurationLabels {
            protocol,
            method,
            status,
        };
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        let DurationLabels {
            protocol,
            method,
            status,
        } = labels;
        let labels = RequestLabels {
            protocol,
            method,
            peer: self.peer.clone(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
    }
}
