//! The deadline of a call, and the header that passes it on.
//!
//! A call must end by the earliest of: the route's timeout from now, the deadline of the
//! request being served when the call is made ([`mesh_core::deadline::current`], set by
//! mesh-server from its caller's header), and the deadline the caller put in the request itself
//! (`grpc-timeout` for gRPC, `mesh-timeout` for HTTP). Each attempt carries the time then left
//! in that header, so the server down the line can stop when nobody waits any more.
//!
//! Calls are bounded with `tokio::time::timeout_at`, whose timer is registered only when the
//! bounded future is not done at its first poll.

use std::time::Duration;

use http::HeaderMap;
use mesh_core::deadline;
use tokio::time::Instant;

use crate::connect::Caller;

/// The deadline of a call made now on a route with `route_timeout`; `None`: unbounded. A
/// malformed header in the request is ignored (and replaced if another bound applies).
pub(crate) fn deadline(
    route_timeout: Option<Duration>,
    headers: &HeaderMap,
    caller: Caller,
) -> Option<Instant> {
    let served = deadline::current();
    let requested = deadline::requested(headers, caller == Caller::Grpc);
    if route_timeout.is_none() && served.is_none() && requested.is_none() {
        return None;
    }
    let now = Instant::now();
    [route_timeout, requested]
        .into_iter()
        .flatten()
        .filter_map(|left| now.checked_add(left))
        .chain(served)
        .min()
}

/// Writes the time left until `deadline` into the request's header.
///
/// The value is marked sensitive: it differs on every call, so HTTP/2 sends it as a
/// never-indexed literal rather than adding it to the connection's HPACK table (and evicting
/// a useful entry) each time.
pub(crate) fn write_left(headers: &mut HeaderMap, caller: Caller, deadline: Instant) {
    let left = deadline.saturating_duration_since(Instant::now());
    let name = deadline::header_name(caller == Caller::Grpc);
    let mut value = deadline::format_timeout(left);
    value.set_sensitive(true);
    headers.insert(name, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use mesh_core::deadline::{GRPC_TIMEOUT, MESH_TIMEOUT};

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_bound_wins() {
        let now = Instant::now();
        let none = HeaderMap::new();
        assert_eq!(deadline(None, &none, Caller::Grpc), None);
        let route = Some(Duration::from_secs(2));
        assert_eq!(
            deadline(route, &none, Caller::Grpc),
            Some(now + Duration::from_secs(2))
        );
        let own = headers(GRPC_TIMEOUT, "500m");
        assert_eq!(
            deadline(route, &own, Caller::Grpc),
            Some(now + Duration::from_millis(500))
        );
        // An HTTP caller's deadline is in mesh-timeout; grpc-timeout means nothing to it.
        assert_eq!(
            deadline(route, &own, Caller::Http),
            Some(now + Duration::from_secs(2))
        );
        let served = now + Duration::from_millis(100);
        let within = deadline::scope(served, async { deadline(route, &own, Caller::Grpc) });
        assert_eq!(within.await, Some(served));
    }

    #[tokio::test(start_paused = true)]
    async fn a_malformed_header_is_replaced_by_the_time_left() {
        let mut request = headers(MESH_TIMEOUT, "soon");
        let at = deadline(Some(Duration::from_secs(1)), &request, Caller::Http).unwrap();
        tokio::time::advance(Duration::from_millis(400)).await;
        write_left(&mut request, Caller::Http, at);
        assert_eq!(request[MESH_TIMEOUT], "600000u");
        assert!(
            request[MESH_TIMEOUT].is_sensitive(),
            "kept out of the HPACK table"
        );
    }
}
