//! A route's timeout (gRFC A31), retries (gRFC A44) and ring-hash key (gRFC A42), all carried
//! in its `RouteAction`. (Its faults are in `typed_per_filter_config`; see `fault`.)
//!
//! A retry policy says `retry_on` as a comma list: the gRPC status names gRPC clients read,
//! `retriable-status-codes` for the HTTP statuses in `retriable_status_codes`, and
//! `connect-failure`. It always carries the `previous_hosts` host predicate, since a retry
//! avoids the endpoint that just failed.

use envoy_types::pb::envoy::config::route::v3::{
    RetryPolicy,
    retry_policy::{RetryBackOff, RetryHostPredicate, retry_host_predicate},
    route_action::{HashPolicy, MaxStreamDuration, hash_policy},
};
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::google::protobuf::UInt32Value;

use super::{duration, to_any};
use crate::model;

/// The `retry_on` name of a gRPC status: one for each of [`model::RETRIABLE_GRPC_CODES`],
/// `None` for the others.
pub(crate) fn grpc_retry_on(code: tonic::Code) -> Option<&'static str> {
    let name = match code {
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::DeadlineExceeded => "deadline-exceeded",
        tonic::Code::Internal => "internal",
        tonic::Code::ResourceExhausted => "resource-exhausted",
        tonic::Code::Unavailable => "unavailable",
        _ => return None,
    };
    Some(name)
}
/// The `retry_on` name that turns on `retriable_status_codes`.
pub(crate) const RETRIABLE_STATUS_CODES: &str = "retriable-status-codes";
/// The `retry_on` name of connection failures.
pub(crate) const CONNECT_FAILURE: &str = "connect-failure";
/// The name of the host predicate that makes a retry avoid the endpoints already tried.
const PREVIOUS_HOSTS_PREDICATE: &str = "envoy.retry_host_predicates.previous_hosts";

/// The bound on a whole call, as `max_stream_duration`.
pub(super) fn max_stream_duration(timeout: std::time::Duration) -> MaxStreamDuration {
    MaxStreamDuration {
        max_stream_duration: Some(duration(timeout)),
        ..Default::default()
    }
}

/// A retry policy. gRPC statuses that xDS has no name for (the model allows only
/// [`model::RETRIABLE_GRPC_CODES`]) are left out.
pub(super) fn retry_policy(retry: &model::RetryPolicy) -> RetryPolicy {
    let on = &retry.retry_on;
    let mut names: Vec<&str> = on
        .grpc_codes
        .iter()
        .filter_map(|&code| grpc_retry_on(code))
        .collect();
    if !on.http_statuses.is_empty() {
        names.push(RETRIABLE_STATUS_CODES);
    }
    if on.connect_failure {
        names.push(CONNECT_FAILURE);
    }
    RetryPolicy {
        retry_on: names.join(","),
        num_retries: Some(UInt32Value {
            value: retry.max_attempts.saturating_sub(1),
        }),
        per_try_timeout: retry.per_try_timeout.map(duration),
        retry_host_predicate: vec![RetryHostPredicate {
            name: PREVIOUS_HOSTS_PREDICATE.into(),
            config_type: Some(retry_host_predicate::ConfigType::TypedConfig(to_any(
                &PreviousHostsPredicate {},
            ))),
        }],
        retriable_status_codes: on.http_statuses.iter().map(|&s| u32::from(s)).collect(),
        retry_back_off: Some(RetryBackOff {
            base_interval: Some(duration(retry.backoff.base)),
            max_interval: Some(duration(retry.backoff.max)),
        }),
        ..Default::default()
    }
}

/// Hash the value of `header` (for a ring-hash cluster).
pub(super) fn hash_policy(header: &str) -> HashPolicy {
    HashPolicy {
        terminal: false,
        policy_specifier: Some(hash_policy::PolicySpecifier::Header(hash_policy::Header {
            header_name: header.to_string(),
            regex_rewrite: None,
        })),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{RetryBackoff, RetryOn};
    use crate::xds::type_url;

    #[test]
    fn retry_policy_names_what_it_retries() {
        let retry = model::RetryPolicy {
            max_attempts: 3,
            retry_on: RetryOn {
                grpc_codes: vec![tonic::Code::Unavailable, tonic::Code::Cancelled],
                http_statuses: vec![503, 502],
                connect_failure: true,
            },
            backoff: RetryBackoff {
                base: Duration::from_millis(50),
                max: Duration::from_millis(500),
            },
            per_try_timeout: Some(Duration::from_millis(300)),
        };
        let p = retry_policy(&retry);
        assert_eq!(
            p.retry_on,
            "unavailable,cancelled,retriable-status-codes,connect-failure"
        );
        assert_eq!(p.num_retries, Some(UInt32Value { value: 2 }));
        assert_eq!(p.retriable_status_codes, [503, 502]);
        let backoff = p.retry_back_off.unwrap();
        assert_eq!(backoff.base_interval.unwrap().nanos, 50_000_000);
        assert_eq!(backoff.max_interval.unwrap().nanos, 500_000_000);
        assert_eq!(p.per_try_timeout.unwrap().nanos, 300_000_000);
        let [predicate] = p.retry_host_predicate.as_slice() else {
            panic!("expected one host predicate");
        };
        assert_eq!(predicate.name, PREVIOUS_HOSTS_PREDICATE);
        let Some(retry_host_predicate::ConfigType::TypedConfig(any)) = &predicate.config_type
        else {
            panic!("predicate without typed_config");
        };
        assert_eq!(any.type_url, type_url::PREVIOUS_HOSTS);
    }

    #[test]
    fn every_retriable_code_has_its_own_name() {
        let names: Vec<_> = model::RETRIABLE_GRPC_CODES
            .iter()
            .map(|&code| grpc_retry_on(code))
            .collect();
        assert!(names.iter().all(Option::is_some), "{names:?}");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        assert_eq!(grpc_retry_on(tonic::Code::Aborted), None);
    }

    #[test]
    fn grpc_codes_without_an_xds_name_are_left_out() {
        let retry = model::RetryPolicy {
            max_attempts: 2,
            retry_on: RetryOn {
                grpc_codes: vec![tonic::Code::Aborted, tonic::Code::Internal],
                ..Default::default()
            },
            backoff: RetryBackoff::default(),
            per_try_timeout: None,
        };
        let p = retry_policy(&retry);
        assert_eq!(p.retry_on, "internal");
        assert!(p.retriable_status_codes.is_empty());
        assert!(p.per_try_timeout.is_none());
    }

    #[test]
    fn timeout_and_hash_header() {
        let d = max_stream_duration(Duration::from_secs(2));
        assert_eq!(d.max_stream_duration.unwrap().seconds, 2);
        assert!(d.grpc_timeout_header_max.is_none());
        let Some(hash_policy::PolicySpecifier::Header(h)) = hash_policy("x-user").policy_specifier
        else {
            panic!("not a header hash policy");
        };
        assert_eq!(h.header_name, "x-user");
    }
}
