//! How model fields without a natural JSON form serialize in config dumps.
//!
//! Durations become text in the protobuf JSON style (`"0.25s"`, `"30s"`), gRPC status codes
//! their numbers (`14` for UNAVAILABLE), as the metrics label them.

use std::sync::Arc;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// `"1.5s"`.
pub(super) fn duration<S: Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{}s", duration.as_secs_f64()))
}

/// `"1.5s"`, or `null`.
pub(super) fn optional_duration<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(value) => self::duration(value, serializer),
        None => serializer.serialize_none(),
    }
}

/// The code's number.
pub(super) fn grpc_code<S: Serializer>(
    code: &tonic::Code,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_i32(*code as i32)
}

/// The codes' numbers.
pub(super) fn grpc_codes<S: Serializer>(
    codes: &[tonic::Code],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(codes.iter().map(|code| *code as i32))
}

/// The shared value itself (serde serializes `Arc` only with its `rc` feature).
pub(super) fn shared<S: Serializer, T: Serialize>(
    value: &Arc<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    T::serialize(value, serializer)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::model::{
        AbortStatus, FaultAbort, LocalRateLimit, PathMatch, Pattern, RetryOn, RouteSource, Share,
    };

    #[test]
    fn durations_codes_and_patterns_read_as_text_and_numbers() {
        let limit = LocalRateLimit {
            max_tokens: 10,
            tokens_per_fill: 5,
            fill_interval: std::time::Duration::from_millis(250),
        };
        assert_eq!(
            serde_json::to_value(limit).unwrap(),
            json!({"max_tokens": 10, "tokens_per_fill": 5, "fill_interval": "0.25s"})
        );
        let retry_on = RetryOn {
            grpc_codes: vec![tonic::Code::Unavailable, tonic::Code::Cancelled],
            http_statuses: vec![503],
            connect_failure: true,
        };
        assert_eq!(
            serde_json::to_value(retry_on).unwrap(),
            json!({"grpc_codes": [14, 1], "http_statuses": [503], "connect_failure": true})
        );
        let abort = FaultAbort {
            status: AbortStatus::Grpc(tonic::Code::Internal),
            share: Share::from_per_million(500_000).unwrap(),
        };
        assert_eq!(
            serde_json::to_value(abort).unwrap(),
            json!({"status": {"grpc": 13}, "share": 500000})
        );
        let path = PathMatch::Regex(Pattern::new("/a.c").unwrap());
        assert_eq!(
            serde_json::to_value(path).unwrap(),
            json!({"regex": "/a.c"})
        );
        let rds = RouteSource::Rds("r1".into());
        assert_eq!(serde_json::to_value(rds).unwrap(), json!({"rds": "r1"}));
    }
}
