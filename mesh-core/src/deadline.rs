//! Deadlines: how long the work on a request may still take, carried from server to client.
//!
//! A gRPC caller states its deadline in the `grpc-timeout` header: the time left, as up to
//! eight digits and a unit (`H`ours, `M`inutes, `S`econds, `m`illiseconds, `u`microseconds,
//! `n`anoseconds), e.g. `250m`. Plain HTTP has no such header, so the mesh uses
//! [`MESH_TIMEOUT`] (`mesh-timeout`) in the same format.
//!
//! A meshed server turns the header of an incoming request into a deadline and runs the handler
//! inside [`scope`]; every call the handler makes through the mesh client reads [`current`] and
//! is bounded by it, writing the time then left into its own outgoing header. So a deadline set
//! by the first caller shrinks along the whole call chain, and work nobody waits for stops.
//!
//! The deadline is a tokio task-local: it follows the handler's future, not tasks the handler
//! spawns (wrap those in [`scope`] too, with `current()`).

use std::future::Future;
use std::time::Duration;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};
use tokio::task::futures::TaskLocalFuture;
use tokio::time::Instant;

/// The gRPC header carrying the caller's deadline as the time left.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The mesh's header carrying an HTTP caller's deadline, in `grpc-timeout`'s format.
pub const MESH_TIMEOUT: &str = "mesh-timeout";

/// The header carrying the caller's deadline: [`GRPC_TIMEOUT`] for gRPC, else
/// [`MESH_TIMEOUT`].
pub fn header_name(grpc: bool) -> HeaderName {
    const GRPC: HeaderName = HeaderName::from_static(GRPC_TIMEOUT);
    const HTTP: HeaderName = HeaderName::from_static(MESH_TIMEOUT);
    if grpc { GRPC } else { HTTP }
}

/// The time left that `headers` ask for in the deadline header of [`header_name`]`(grpc)`;
/// `None` when the header is absent or malformed (which is logged at debug and ignored).
pub fn requested(headers: &HeaderMap, grpc: bool) -> Option<Duration> {
    let name = header_name(grpc);
    let value = headers.get(&name)?;
    parse_timeout(value)
        .inspect_err(
            |error| tracing::debug!(%error, header = %name, "ignoring the caller's deadline"),
        )
        .ok()
}

/// The largest value `grpc-timeout` may carry: eight digits.
const MAX_VALUE: u64 = 99_999_999;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The deadline of the request being served by the current task, if it has one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// Runs `future` with `deadline` as its [`current`] deadline, or the enclosing one if that is
/// earlier: a nested scope never extends the deadline it runs under.
pub fn scope<F: Future>(deadline: Instant, future: F) -> TaskLocalFuture<Instant, F> {
    DEADLINE.scope(earliest(deadline), future)
}

/// Runs `f` with `deadline` (or the enclosing deadline if earlier) as its [`current`] deadline:
/// [`scope`] for synchronous code, such as a tower service's `call`.
pub fn sync_scope<R>(deadline: Instant, f: impl FnOnce() -> R) -> R {
    DEADLINE.sync_scope(earliest(deadline), f)
}

fn earliest(deadline: Instant) -> Instant {
    current().map_or(deadline, |outer| outer.min(deadline))
}

/// A `grpc-timeout` (or `mesh-timeout`) value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid timeout header value {value:?}: {reason}; write up to 8 digits and a unit \
     (H, M, S, m, u or n), e.g. 250m"
)]
pub struct TimeoutParseError {
    value: String,
    reason: &'static str,
}

/// Parses a `grpc-timeout` (or `mesh-timeout`) value such as `250m` into the time left.
pub fn parse_timeout(value: &HeaderValue) -> Result<Duration, TimeoutParseError> {
    let error = |reason| TimeoutParseError {
        value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        reason,
    };
    let bytes = value.as_bytes();
    let Some((&unit, digits)) = bytes.split_last() else {
        return Err(error("it is empty"));
    };
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(error("the value is not 1 to 8 digits"));
    }
    let number = digits
        .iter()
        .fold(0_u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok(match unit {
        b'H' => Duration::from_secs(number * 3600),
        b'M' => Duration::from_secs(number * 60),
        b'S' => Duration::from_secs(number),
        b'm' => Duration::from_millis(number),
        b'u' => Duration::from_micros(number),
        b'n' => Duration::from_nanos(number),
        _ => return Err(error("the unit is not one of H, M, S, m, u, n")),
    })
}

/// Formats the time left as a `grpc-timeout` (or `mesh-timeout`) value: the finest unit whose
/// value fits in eight digits, rounded up so that a positive time never reads as zero.
pub fn format_timeout(left: Duration) -> HeaderValue {
    let nanos = left.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    let (value, unit) = units
        .iter()
        .map(|&(size, unit)| (nanos.div_ceil(size), unit))
        .find(|&(value, _)| value <= u128::from(MAX_VALUE))
        .unwrap_or((u128::from(MAX_VALUE), 'H'));
    // At most eight digits and the unit, written without allocating.
    let mut text = [0_u8; 9];
    let digits = value.max(1).ilog10() as usize + 1;
    let mut rest = value;
    for at in (0..digits).rev() {
        text[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    text[digits] = unit as u8;
    HeaderValue::from_bytes(&text[..=digits])
        .expect("digits and a letter make a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Duration, TimeoutParseError> {
        parse_timeout(&HeaderValue::from_str(value).unwrap())
    }

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse("2H").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse("3M").unwrap(), Duration::from_secs(180));
        assert_eq!(parse("4S").unwrap(), Duration::from_secs(4));
        assert_eq!(parse("250m").unwrap(), Duration::from_millis(250));
        assert_eq!(parse("7u").unwrap(), Duration::from_micros(7));
        assert_eq!(
            parse("99999999n").unwrap(),
            Duration::from_nanos(99_999_999)
        );
    }

    #[test]
    fn refuses_malformed_values_saying_why() {
        for bad in ["", "m", "123456789m", "12x", "-5m", "1.5S", " 5m"] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("invalid timeout header value"), "{bad}: {err}");
        }
        let err = parse("12x").unwrap_err().to_string();
        assert!(err.contains("unit is not one of"), "{err}");
    }

    #[test]
    fn formats_in_the_finest_unit_that_fits() {
        let format = |d| format_timeout(d).to_str().unwrap().to_string();
        assert_eq!(format(Duration::from_nanos(1500)), "1500n");
        assert_eq!(format(Duration::from_millis(250)), "250000u");
        assert_eq!(format(Duration::from_secs(1)), "1000000u");
        assert_eq!(format(Duration::from_secs(3600)), "3600000m");
        assert_eq!(format(Duration::from_secs(200_000)), "200000S");
        assert_eq!(format(Duration::ZERO), "0n");
        assert_eq!(format(Duration::from_nanos(1)), "1n");
        assert_eq!(format(Duration::from_nanos(10)), "10n");
        assert_eq!(format(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(format(Duration::MAX), "99999999H");
    }

    #[test]
    fn format_and_parse_round_trip_without_shortening() {
        for nanos in [1, 999, 100_000_001, 5_000_000_000, 86_400_000_000_123] {
            let left = Duration::from_nanos(nanos);
            let back = parse_timeout(&format_timeout(left)).unwrap();
            assert!(back >= left, "{left:?} came back as {back:?}");
            // Rounding up adds less than one unit, and a coarser unit is only used for values
            // over 100,000 of the finer one: at most 0.001 %.
            assert!(
                back - left <= left / 100_000,
                "{left:?} came back as {back:?}"
            );
        }
    }

    #[test]
    fn requested_reads_the_header_of_the_protocol() {
        let mut headers = HeaderMap::new();
        assert_eq!(requested(&headers, true), None);
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("250m"));
        headers.insert(MESH_TIMEOUT, HeaderValue::from_static("2S"));
        assert_eq!(header_name(true), GRPC_TIMEOUT);
        assert_eq!(header_name(false), MESH_TIMEOUT);
        assert_eq!(requested(&headers, true), Some(Duration::from_millis(250)));
        assert_eq!(requested(&headers, false), Some(Duration::from_secs(2)));
        headers.insert(GRPC_TIMEOUT, HeaderValue::from_static("soon"));
        assert_eq!(requested(&headers, true), None);
    }

    #[tokio::test(start_paused = true)]
    async fn scopes_nest_and_never_extend() {
        assert_eq!(current(), None);
        let now = Instant::now();
        let outer = now + Duration::from_secs(1);
        scope(outer, async move {
            assert_eq!(current(), Some(outer));
            let later = now + Duration::from_secs(5);
            scope(later, async move { assert_eq!(current(), Some(outer)) }).await;
            let sooner = now + Duration::from_millis(10);
            scope(sooner, async move { assert_eq!(current(), Some(sooner)) }).await;
            assert_eq!(sync_scope(sooner, current), Some(sooner));
        })
        .await;
        assert_eq!(current(), None);
    }
}
