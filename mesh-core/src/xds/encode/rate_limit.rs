//! A server's rate limit: Envoy's `envoy.filters.http.local_ratelimit` HTTP filter.
//!
//! The filter holds the token bucket and is enabled and enforced for every request (Envoy's
//! defaults are 0 %). It is marked `is_optional`, since gRPC servers do not have it and skip
//! optional filters they do not know.

use envoy_types::pb::envoy::config::core::v3::RuntimeFractionalPercent;
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as Proto;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::r#type::v3::{
    FractionalPercent, TokenBucket, fractional_percent::DenominatorType,
};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::{duration, to_any};
use crate::model::LocalRateLimit;

/// The name of the rate limit filter.
pub(super) const RATE_LIMIT_FILTER: &str = "envoy.filters.http.local_ratelimit";
/// The prefix of the filter's statistics in Envoy.
const STAT_PREFIX: &str = "mesh_inbound";

/// The optional local rate limit filter enforcing `limit` on every request.
pub(super) fn http_filter(limit: &LocalRateLimit) -> HttpFilter {
    let every_request = || RuntimeFractionalPercent {
        default_value: Some(FractionalPercent {
            numerator: 100,
            denominator: DenominatorType::Hundred as i32,
        }),
        runtime_key: String::new(),
    };
    let config = Proto {
        stat_prefix: STAT_PREFIX.into(),
        token_bucket: Some(TokenBucket {
            max_tokens: limit.max_tokens,
            tokens_per_fill: Some(UInt32Value {
                value: limit.tokens_per_fill,
            }),
            fill_interval: Some(duration(limit.fill_interval)),
        }),
        filter_enabled: Some(every_request()),
        filter_enforced: Some(every_request()),
        ..Default::default()
    };
    HttpFilter {
        name: RATE_LIMIT_FILTER.into(),
        is_optional: true,
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(&config))),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message;

    use super::*;
    use crate::xds::type_url;

    #[test]
    fn an_optional_filter_enforcing_the_bucket_on_every_request() {
        let filter = http_filter(&LocalRateLimit {
            max_tokens: 10,
            tokens_per_fill: 5,
            fill_interval: Duration::from_millis(50),
        });
        assert!(filter.is_optional);
        let Some(http_filter::ConfigType::TypedConfig(any)) = &filter.config_type else {
            panic!("no typed_config");
        };
        assert_eq!(any.type_url, type_url::LOCAL_RATE_LIMIT);
        let config = Proto::decode(any.value.as_slice()).unwrap();
        assert_eq!(config.stat_prefix, STAT_PREFIX);
        let bucket = config.token_bucket.unwrap();
        assert_eq!(bucket.max_tokens, 10);
        assert_eq!(bucket.tokens_per_fill, Some(UInt32Value { value: 5 }));
        let interval = bucket.fill_interval.unwrap();
        assert_eq!((interval.seconds, interval.nanos), (0, 50_000_000));
        for share in [config.filter_enabled, config.filter_enforced] {
            let share = share.unwrap().default_value.unwrap();
            assert_eq!(
                (share.numerator, share.denominator),
                (100, DenominatorType::Hundred as i32)
            );
        }
    }
}
