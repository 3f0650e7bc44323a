use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay as ProtoDelay, fault_delay::HeaderDelay,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort as ProtoAbort, fault_abort::HeaderAbort,
};
use envoy_types::pb::envoy::r#type::v3::fractional_percent::DenominatorType;
use envoy_types::pb::google::protobuf::{Duration as ProtoDuration, UInt32Value};

use super::*;
use crate::model::{HeaderMatch, StringMatch};
use crate::xds::decode::fixtures::any;

const CTX: Context<'static> = Context {
    kind: "RouteConfiguration",
    resource: "rc",
};

fn percent(numerator: u32, denominator: DenominatorType) -> Option<FractionalPercent> {
    Some(FractionalPercent {
        numerator,
        denominator: denominator as i32,
    })
}

fn delay_fault(millis: i32, pct: Option<FractionalPercent>) -> HttpFault {
    HttpFault {
        delay: Some(ProtoDelay {
            percentage: pct,
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(ProtoDuration {
                seconds: 0,
                nanos: millis * 1_000_000,
            })),
        }),
        ..Default::default()
    }
}

fn abort_fault(error: ErrorType) -> HttpFault {
    HttpFault {
        abort: Some(ProtoAbort {
            percentage: percent(20, DenominatorType::Hundred),
            error_type: Some(error),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn decode(proto: &HttpFault) -> Result<Option<FaultInjection>, DecodeError> {
    http_fault(CTX, "f", proto)
}

#[test]
fn decodes_delay_abort_headers_and_limit() {
    let mut proto = delay_fault(100, percent(10, DenominatorType::Hundred));
    proto.abort = abort_fault(ErrorType::GrpcStatus(14)).abort;
    proto.headers = vec![HeaderMatcher {
        name: "X-Fault".into(),
        header_match_specifier: Some(HeaderMatchSpecifier::PresentMatch(true)),
        ..Default::default()
    }];
    proto.max_active_faults = Some(UInt32Value { value: 7 });
    let got = decode(&proto).unwrap().unwrap();
    assert_eq!(
        got,
        FaultInjection {
            delay: Some(FaultDelay {
                delay: Duration::from_millis(100),
                share: Share::from_per_million(100_000).unwrap(),
            }),
            abort: Some(FaultAbort {
                status: AbortStatus::Grpc(tonic::Code::Unavailable),
                share: Share::from_per_million(200_000).unwrap(),
            }),
            headers: vec![HeaderMatch {
                name: "x-fault".into(),
                matcher: StringMatch::Present,
                invert: false,
            }],
            max_active: Some(7),
        }
    );
}

#[test]
fn every_denominator_becomes_millionths_and_overflow_caps_at_all() {
    let cases = [
        (percent(5, DenominatorType::Hundred), 50_000),
        (percent(5, DenominatorType::TenThousand), 500),
        (percent(5, DenominatorType::Million), 5),
        (percent(150, DenominatorType::Hundred), 1_000_000),
        (percent(u32::MAX, DenominatorType::Hundred), 1_000_000),
        (None, 0),
    ];
    for (pct, millionths) in cases {
        let got = decode(&delay_fault(1, pct)).unwrap().unwrap();
        assert_eq!(
            got.delay.unwrap().share.per_million(),
            millionths,
            "{pct:?}"
        );
    }
    let bad = FractionalPercent {
        numerator: 1,
        denominator: 7,
    };
    let err = decode(&delay_fault(1, Some(bad))).unwrap_err();
    assert_eq!(err.field, "f.delay.percentage.denominator");
}

#[test]
fn abort_statuses_must_be_errors_in_range() {
    let ok = decode(&abort_fault(ErrorType::HttpStatus(503)))
        .unwrap()
        .unwrap();
    assert_eq!(ok.abort.unwrap().status, AbortStatus::Http(503));
    for (error, field) in [
        (ErrorType::GrpcStatus(0), "f.abort.grpc_status"),
        (ErrorType::GrpcStatus(17), "f.abort.grpc_status"),
        (ErrorType::HttpStatus(199), "f.abort.http_status"),
        (ErrorType::HttpStatus(600), "f.abort.http_status"),
        (
            ErrorType::HeaderAbort(HeaderAbort {}),
            "f.abort.header_abort",
        ),
    ] {
        assert_eq!(decode(&abort_fault(error)).unwrap_err().field, field);
    }
    let mut none = abort_fault(ErrorType::HttpStatus(503));
    none.abort.as_mut().unwrap().error_type = None;
    assert_eq!(decode(&none).unwrap_err().field, "f.abort");
}

#[test]
fn header_delay_is_not_supported() {
    let mut proto = delay_fault(1, None);
    proto.delay.as_mut().unwrap().fault_delay_secifier =
        Some(FaultDelaySecifier::HeaderDelay(HeaderDelay {}));
    assert_eq!(decode(&proto).unwrap_err().field, "f.delay.header_delay");
}

#[test]
fn no_delay_and_no_abort_is_no_fault() {
    assert_eq!(decode(&HttpFault::default()).unwrap(), None);
}

#[test]
fn per_filter_config_finds_the_fault_by_type() {
    let fault = delay_fault(5, percent(1, DenominatorType::Hundred));
    let other = any("type.googleapis.com/other.Filter", &HttpFault::default());
    let map: HashMap<String, Any> = [
        ("fault".to_string(), any(type_url::HTTP_FAULT, &fault)),
        ("other".to_string(), other.clone()),
    ]
    .into();
    let got = per_filter_config(CTX, "t", &map).unwrap();
    assert_eq!(got, Some(decode(&fault).unwrap()));
    let only_other: HashMap<String, Any> = [("other".to_string(), other)].into();
    assert_eq!(per_filter_config(CTX, "t", &only_other).unwrap(), None);
}

#[test]
fn per_filter_config_unwraps_filter_config() {
    let fault = delay_fault(5, percent(1, DenominatorType::Hundred));
    let wrapped = |disabled| FilterConfig {
        config: Some(any(type_url::HTTP_FAULT, &fault)),
        is_optional: false,
        disabled,
    };
    let map = |w: &FilterConfig| -> HashMap<String, Any> {
        [("f".to_string(), any(type_url::FILTER_CONFIG, w))].into()
    };
    assert_eq!(
        per_filter_config(CTX, "t", &map(&wrapped(false))).unwrap(),
        Some(decode(&fault).unwrap())
    );
    assert_eq!(
        per_filter_config(CTX, "t", &map(&wrapped(true))).unwrap(),
        Some(None),
        "disabled: no faults here, and none from the virtual host"
    );
    let mut bad = fault.clone();
    bad.abort = abort_fault(ErrorType::GrpcStatus(0)).abort;
    let wrapped_bad = FilterConfig {
        config: Some(any(type_url::HTTP_FAULT, &bad)),
        ..Default::default()
    };
    assert_eq!(
        per_filter_config(CTX, "t", &map(&wrapped_bad))
            .unwrap_err()
            .field,
        "t[\"f\"].config.abort.grpc_status"
    );
}

#[test]
fn two_fault_configs_are_refused() {
    let fault = any(type_url::HTTP_FAULT, &delay_fault(5, None));
    let map: HashMap<String, Any> =
        [("a".to_string(), fault.clone()), ("b".to_string(), fault)].into();
    let err = per_filter_config(CTX, "t", &map).unwrap_err();
    assert_eq!(err.field, "t");
    assert!(err.reason.contains("\"a\" and \"b\""), "{err}");
}
