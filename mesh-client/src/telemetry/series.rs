//! The series every call on one (route, cluster) pair touches, looked up once per pair.
//!
//! A call counts in flight on its route and cluster, and most calls end OK and come from the
//! same server identity: [`RouteSeries`] keeps the in-flight gauge and, once the first OK call
//! ends, the OK series of the requests counter and the duration histogram for that call's
//! protocol and peer. A call that ends otherwise (another status, another peer) looks its
//! series up in the families, as rare calls may.

use std::sync::{Arc, OnceLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use super::{ClientMetrics, DurationLabels, Peer, RequestLabels, RouteLabels, Status};

/// The lazily made [`RouteSeries`] of one cluster of one route, kept in the route table.
#[derive(Debug, Default)]
pub(crate) struct SeriesSlot(OnceLock<Arc<RouteSeries>>);

impl SeriesSlot {
    /// The pair's series in `metrics`, made on the first call (a table serves one client, so
    /// always the same `metrics`).
    pub(crate) fn get(
        &self,
        metrics: &ClientMetrics,
        route: &Arc<str>,
        cluster: &Arc<str>,
    ) -> &Arc<RouteSeries> {
        self.0
            .get_or_init(|| Arc::new(RouteSeries::new(metrics, route, cluster)))
    }
}

/// The series of one (route, cluster) pair.
#[derive(Debug)]
pub(crate) struct RouteSeries {
    metrics: ClientMetrics,
    route: Arc<str>,
    cluster: Arc<str>,
    in_flight: Gauge,
    /// The OK series of the first OK call's protocol and peer.
    ok: OnceLock<OkSeries>,
}

/// The series of the OK calls with one protocol and peer.
#[derive(Debug)]
struct OkSeries {
    protocol: &'static str,
    peer: Peer,
    requests: Counter,
    duration: Histogram,
}

impl RouteSeries {
    fn new(metrics: &ClientMetrics, route: &Arc<str>, cluster: &Arc<str>) -> Self {
        let labels = RouteLabels {
            route: Arc::clone(route),
            cluster: Arc::clone(cluster),
        };
        Self {
            in_flight: metrics.families().in_flight.get_or_create_owned(&labels),
            metrics: metrics.clone(),
            route: labels.route,
            cluster: labels.cluster,
            ok: OnceLock::new(),
        }
    }

    /// The pair's `mesh_client_requests_in_flight` gauge.
    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Counts a call over `protocol` from `peer` that ended with `status` after `latency`
    /// seconds.
    pub(crate) fn count(&self, protocol: &'static str, peer: &Peer, status: Status, latency: f64) {
        if status == Status::ok(protocol) {
            let ok = self.ok.get_or_init(|| {
                let (requests, duration) = self.labels(protocol, peer, status);
                let families = self.metrics.families();
                OkSeries {
                    protocol,
                    peer: peer.clone(),
                    requests: families.requests.get_or_create_owned(&requests),
                    duration: families.duration.get_or_create_owned(&duration),
                }
            });
            if ok.protocol == protocol && ok.peer == *peer {
                ok.requests.inc();
                ok.duration.observe(latency);
                return;
            }
        }
        let (requests, duration) = self.labels(protocol, peer, status);
        self.metrics.count(&requests, &duration, latency);
    }

    fn labels(
        &self,
        protocol: &'static str,
        peer: &Peer,
        status: Status,
    ) -> (RequestLabels, DurationLabels) {
        labels(protocol, &self.route, &self.cluster, peer, status)
    }
}

/// The label sets of a call's requests counter and duration histogram.
pub(crate) fn labels(
    protocol: &'static str,
    route: &Arc<str>,
    cluster: &Arc<str>,
    peer: &Peer,
    status: Status,
) -> (RequestLabels, DurationLabels) {
    let duration = DurationLabels {
        protocol,
        route: Arc::clone(route),
        cluster: Arc::clone(cluster),
        status,
    };
    let requests = RequestLabels {
        protocol,
        route: Arc::clone(route),
        cluster: Arc::clone(cluster),
        peer: peer.clone(),
        status,
    };
    (requests, duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::telemetry::Metrics;

    #[test]
    fn ok_calls_use_the_kept_series_and_others_their_own() {
        let registry = Metrics::new();
        let metrics = ClientMetrics::of(&registry);
        let slot = SeriesSlot::default();
        let series = slot.get(&metrics, &"r".into(), &"c".into());
        let peer = Peer::default();
        series.count("grpc", &peer, Status::Code(0), 0.01);
        series.count("grpc", &peer, Status::Code(0), 0.01);
        series.count("grpc", &peer, Status::UNAVAILABLE, 0.01);
        // Another protocol's OK is not the kept one's.
        series.count("http", &peer, Status::Code(200), 0.01);
        let text = registry.render_text();
        for (labels, count) in [
            (
                r#"protocol="grpc",route="r",cluster="c",peer="",status="0""#,
                2,
            ),
            (
                r#"protocol="grpc",route="r",cluster="c",peer="",status="14""#,
                1,
            ),
            (
                r#"protocol="http",route="r",cluster="c",peer="",status="200""#,
                1,
            ),
        ] {
            let line = format!("mesh_client_requests_total{{{labels}}} {count}");
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(Arc::ptr_eq(
            series,
            slot.get(&metrics, &"x".into(), &"y".into())
        ));
    }
}
