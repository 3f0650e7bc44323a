use envoy_types::pb::envoy::config::route::v3::retry_policy::RetryBackOff;
use envoy_types::pb::google::protobuf::{Duration as ProtoDuration, UInt32Value};

use super::*;

const CTX: Context<'static> = Context {
    kind: "RouteConfiguration",
    resource: "rc",
};

fn ms(millis: i32) -> ProtoDuration {
    ProtoDuration {
        seconds: 0,
        nanos: millis * 1_000_000,
    }
}

fn policy(retry_on: &str) -> RetryPolicy {
    RetryPolicy {
        retry_on: retry_on.into(),
        ..Default::default()
    }
}

fn decode(proto: &RetryPolicy) -> Result<Option<model::RetryPolicy>, DecodeError> {
    retry_policy(CTX, "r.retry_policy", proto)
}

#[test]
fn grpc_defaults_one_retry_and_25ms_backoff() {
    let got = decode(&policy("unavailable")).unwrap().unwrap();
    assert_eq!(
        got,
        model::RetryPolicy {
            max_attempts: 2,
            retry_on: RetryOn {
                grpc_codes: vec![tonic::Code::Unavailable],
                ..Default::default()
            },
            backoff: RetryBackoff {
                base: Duration::from_millis(25),
                max: Duration::from_millis(250),
            },
            per_try_timeout: None,
        }
    );
}

#[test]
fn unknown_names_are_ignored_and_known_ones_kept_in_order() {
    let mut p =
        policy(" Resource-Exhausted ,reset,unavailable,cancelled,unavailable,refused-stream");
    p.num_retries = Some(UInt32Value { value: 2 });
    let got = decode(&p).unwrap().unwrap();
    assert_eq!(
        got.retry_on.grpc_codes,
        [
            tonic::Code::ResourceExhausted,
            tonic::Code::Unavailable,
            tonic::Code::Cancelled
        ]
    );
    assert!(!got.retry_on.connect_failure);
    assert_eq!(got.max_attempts, 3);
}

#[test]
fn a_policy_that_retries_nothing_known_is_none() {
    assert_eq!(decode(&policy("")).unwrap(), None);
    assert_eq!(decode(&policy("reset,refused-stream")).unwrap(), None);
    let mut p = policy("retriable-status-codes");
    p.retriable_status_codes = vec![409];
    assert_eq!(decode(&p).unwrap(), None, "only 5xx statuses are retried");
}

#[test]
fn attempts_are_capped_at_max_attempts() {
    let mut p = policy("internal");
    p.num_retries = Some(UInt32Value { value: u32::MAX });
    assert_eq!(decode(&p).unwrap().unwrap().max_attempts, MAX_ATTEMPTS);
}

#[test]
fn zero_retries_is_refused() {
    let mut p = policy("internal");
    p.num_retries = Some(UInt32Value { value: 0 });
    let err = decode(&p).unwrap_err();
    assert_eq!(err.field, "r.retry_policy.num_retries");
}

#[test]
fn http_statuses_and_connection_failures() {
    let mut p = policy("retriable-status-codes,connect-failure");
    p.retriable_status_codes = vec![503, 200, 502, 503, 70_000];
    let on = decode(&p).unwrap().unwrap().retry_on;
    assert_eq!(on.http_statuses, [503, 502]);
    assert!(on.connect_failure);
    assert!(on.grpc_codes.is_empty());

    let on = decode(&policy("gateway-error")).unwrap().unwrap().retry_on;
    assert_eq!(
        (on.http_statuses, on.connect_failure),
        (vec![502, 503, 504], true)
    );
    let on = decode(&policy("5xx")).unwrap().unwrap().retry_on;
    assert_eq!(on.http_statuses.len(), 100);
}

#[test]
fn backoff_max_defaults_to_ten_times_the_base() {
    let mut p = policy("unavailable");
    p.retry_back_off = Some(RetryBackOff {
        base_interval: Some(ms(50)),
        max_interval: None,
    });
    let backoff = decode(&p).unwrap().unwrap().backoff;
    assert_eq!(backoff.base, Duration::from_millis(50));
    assert_eq!(backoff.max, Duration::from_millis(500));

    p.retry_back_off.as_mut().unwrap().max_interval = Some(ms(70));
    assert_eq!(
        decode(&p).unwrap().unwrap().backoff.max,
        Duration::from_millis(70)
    );
}

#[test]
fn backoff_needs_a_positive_base_and_max() {
    for base in [None, Some(ms(0))] {
        let mut p = policy("unavailable");
        p.retry_back_off = Some(RetryBackOff {
            base_interval: base,
            max_interval: None,
        });
        let err = decode(&p).unwrap_err();
        assert_eq!(err.field, "r.retry_policy.retry_back_off.base_interval");
    }
    let mut p = policy("unavailable");
    p.retry_back_off = Some(RetryBackOff {
        base_interval: Some(ms(10)),
        max_interval: Some(ms(0)),
    });
    let err = decode(&p).unwrap_err();
    assert_eq!(err.field, "r.retry_policy.retry_back_off.max_interval");
    p.retry_back_off.as_mut().unwrap().max_interval = Some(ms(-5));
    assert!(decode(&p).unwrap_err().reason.contains("negative"));
}

#[test]
fn backoff_max_is_at_least_the_base() {
    let mut p = policy("unavailable");
    p.retry_back_off = Some(RetryBackOff {
        base_interval: Some(ms(100)),
        max_interval: Some(ms(50)),
    });
    let err = decode(&p).unwrap_err();
    assert_eq!(err.field, "r.retry_policy.retry_back_off.max_interval");
    assert_eq!(err.reason, "50ms is shorter than base_interval 100ms");
    p.retry_back_off.as_mut().unwrap().max_interval = Some(ms(100));
    assert!(decode(&p).is_ok(), "equal is fine");
}

#[test]
fn invalid_settings_are_refused_even_when_nothing_is_retried() {
    let mut p = policy("reset");
    p.num_retries = Some(UInt32Value { value: 0 });
    assert!(
        decode(&p).is_err(),
        "gRPC validates before looking at retry_on"
    );
}

#[test]
fn per_try_timeout_zero_means_none() {
    let mut p = policy("unavailable");
    p.per_try_timeout = Some(ms(300));
    assert_eq!(
        decode(&p).unwrap().unwrap().per_try_timeout,
        Some(Duration::from_millis(300))
    );
    p.per_try_timeout = Some(ms(0));
    assert_eq!(decode(&p).unwrap().unwrap().per_try_timeout, None);
    p.per_try_timeout = Some(ms(-1));
    assert_eq!(
        decode(&p).unwrap_err().field,
        "r.retry_policy.per_try_timeout"
    );
}
