//! The server's metric families, registered once per [`Metrics`] registry, and the handles a
//! connection keeps so that its requests record without looking up or allocating labels.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use mesh_core::identity::PeerIdentity;
use mesh_core::telemetry::{Metrics, REQUEST_DURATION_BUCKETS};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::labels::{Protocol, Status};

/// The `rule` label of a call denied by the authorization's default action.
const DEFAULT_RULE: &str = "default";

/// The caller's SPIFFE ID as a label value: `""` for a plaintext caller.
type PeerLabel = Option<Arc<str>>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: Protocol,
    method: Arc<str>,
    peer: PeerLabel,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    protocol: Protocol,
    method: Arc<str>,
    status: Status,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeniedLabels {
    peer: PeerLabel,
    rule: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    tls: bool,
    result: &'static str,
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
    connections: Family<ConnectionLabels, Counter>,
    /// The rule names the denied series were made with, so that a denial by a rule seen
    /// before allocates nothing.
    rules: Arc<RwLock<HashSet<Arc<str>>>>,
}

impl ServerMetrics {
    /// The server families of `metrics`, registered on first use.
    pub(crate) fn of(metrics: &Metrics) -> Self {
        metrics.part(register)
    }

    /// Counts an accepted connection and returns the handles its requests record with.
    pub(crate) fn connection(&self, tls: bool, peer: Option<&PeerIdentity>) -> ConnectionMetrics {
        self.count_connection(tls, "accepted");
        ConnectionMetrics {
            requests: self.requests.clone(),
            duration: self.duration.clone(),
            in_flight: self.in_flight.clone(),
            peer: peer.map(|peer| Arc::clone(peer.shared_str())),
            series: Mutex::default(),
        }
    }

    /// Counts a connection closed before it was served: refused at (or instead of) the mTLS
    /// handshake; `tls`: whether it began one.
    pub(crate) fn refused(&self, tls: bool) {
        self.count_connection(tls, "refused");
    }

    fn count_connection(&self, tls: bool, result: &'static str) {
        let labels = ConnectionLabels { tls, result };
        self.connections.get_or_create(&labels).inc();
    }

    /// Counts a call the authorization denied by `rule` (`None`: the default action).
    pub(crate) fn denied(&self, peer: Option<&PeerIdentity>, rule: Option<&str>) {
        let labels = DeniedLabels {
            peer: peer.map(|peer| Arc::clone(peer.shared_str())),
            rule: self.rule_label(rule.unwrap_or(DEFAULT_RULE)),
        };
        self.denied.get_or_create(&labels).inc();
    }

    /// The shared text of the `rule` label `name`, made the first time it is asked for.
    fn rule_label(&self, name: &str) -> Arc<str> {
        let known = self.rules.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(rule) = known.get(name) {
            return Arc::clone(rule);
        }
        drop(known);
        let mut known = self.rules.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(rule) = known.get(name) {
            return Arc::clone(rule);
        }
        let rule: Arc<str> = Arc::from(name);
        known.insert(Arc::clone(&rule));
        rule
    }

    /// Counts a call the rate limit refused.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }
}

fn register(registry: &mut Registry) -> ServerMetrics {
    let metrics = ServerMetrics {
        requests: Family::default(),
        duration: Family::new_with_constructor(|| Histogram::new(REQUEST_DURATION_BUCKETS)),
        in_flight: Gauge::default(),
        denied: Family::default(),
        rate_limited: Counter::default(),
        connections: Family::default(),
        rules: Arc::default(),
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
        "Connections accepted or refused (at the mTLS handshake), over mTLS or not",
        metrics.connections.clone(),
    );
    metrics
}

/// What the requests of one connection record with: the families, the caller's label, and
/// the series its requests recorded in so far, so that the next request with the same method
/// and status records with two atomic updates (and no label lookup or allocation).
#[derive(Debug)]
pub(crate) struct ConnectionMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: DurationFamily,
    in_flight: Gauge,
    peer: PeerLabel,
    /// By `method` label text.
    series: Mutex<HashMap<Arc<str>, Vec<Series>>>,
}

/// The series of one method, protocol and status on one connection.
#[derive(Debug)]
struct Series {
    protocol: Protocol,
    status: Status,
    requests: Counter,
    duration: Histogram,
}

impl ConnectionMetrics {
    /// A request arrived.
    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    /// A request's response ended with `status` after `elapsed`; `method` is its label.
    pub(crate) fn ended(
        &self,
        protocol: Protocol,
        method: &str,
        status: Status,
        elapsed: Duration,
    ) {
        self.in_flight.dec();
        let mut cache = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let same = |series: &&Series| series.protocol == protocol && series.status == status;
        if let Some(series) = cache.get(method).and_then(|known| known.iter().find(same)) {
            series.record(elapsed);
            return;
        }
        let method = cache
            .get_key_value(method)
            .map_or_else(|| Arc::from(method), |(known, _)| Arc::clone(known));
        let series = Series {
            protocol,
            status,
            requests: self.requests.get_or_create_owned(&RequestLabels {
                protocol,
                method: Arc::clone(&method),
                peer: self.peer.clone(),
                status,
            }),
            duration: self.duration.get_or_create_owned(&DurationLabels {
                protocol,
                method: Arc::clone(&method),
                status,
            }),
        };
        series.record(elapsed);
        cache.entry(method).or_default().push(series);
    }
}

impl Series {
    fn record(&self, elapsed: Duration) {
        self.requests.inc();
        self.duration.observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &Metrics, prefix: &str) -> Vec<String> {
        let text = metrics.render_openmetrics();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn connections_keep_their_series_and_share_the_families() {
        let metrics = Metrics::new();
        let server = ServerMetrics::of(&metrics);
        let (one, two) = (
            server.connection(true, None),
            server.connection(false, None),
        );
        let ms = Duration::from_millis(1);
        for (connection, status) in [(&one, 0), (&one, 0), (&two, 0), (&one, 5)] {
            connection.started();
            connection.ended(Protocol::Grpc, "/a.B/C", Status::Grpc(status), ms);
        }
        let requests = |status: &str, n: u8| {
            format!(
                "mesh_server_requests_total{{protocol=\"grpc\",method=\"/a.B/C\",peer=\"\",status=\"{status}\"}} {n}"
            )
        };
        assert_eq!(
            lines(&metrics, "mesh_server_requests_total{"),
            [requests("0", 3), requests("5", 1)]
        );
        let cached = one.series.lock().unwrap();
        let statuses: Vec<Status> = cached["/a.B/C"].iter().map(|s| s.status).collect();
        assert_eq!(statuses, [Status::Grpc(0), Status::Grpc(5)]);
        assert_eq!(
            lines(&metrics, "mesh_server_requests_in_flight"),
            ["mesh_server_requests_in_flight 0"]
        );
    }

    #[test]
    fn a_rule_name_is_made_once() {
        let server = ServerMetrics::of(&Metrics::new());
        let first = server.rule_label("ns/policy/0");
        assert!(Arc::ptr_eq(&first, &server.rule_label("ns/policy/0")));
        assert_eq!(&*server.rule_label("ns/policy/1"), "ns/policy/1");
    }
}
