//! Fault injection (gRFC A33): the `envoy.filters.http.fault` HTTP filter, listed empty in
//! every client connection manager, and configured per route in `typed_per_filter_config`.
//!
//! Shares are `FractionalPercent`s with the coarsest denominator that says them exactly
//! (`HUNDRED` for 20 %, `MILLION` for 0.0005 %).

use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, fault_delay::FaultDelaySecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort::ErrorType,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{Any, UInt32Value};

use super::route::header_matcher;
use super::{duration, to_any};
use crate::model::{AbortStatus, FaultInjection, Share};

/// The name of the fault filter, and the key of its per-route config.
pub(super) const FAULT_FILTER: &str = "envoy.filters.http.fault";

/// The fault filter as a connection manager lists it: no faults of its own.
pub(super) fn http_filter() -> HttpFilter {
    HttpFilter {
        name: FAULT_FILTER.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(
            &HttpFault::default(),
        ))),
        ..Default::default()
    }
}

/// A route's faults, for its `typed_per_filter_config[FAULT_FILTER]`.
pub(super) fn per_route_config(fault: &FaultInjection) -> Any {
    to_any(&http_fault(fault))
}

fn http_fault(fault: &FaultInjection) -> HttpFault {
    HttpFault {
        delay: fault.delay.map(|d| FaultDelay {
            percentage: Some(fractional_percent(d.share)),
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(duration(d.delay))),
        }),
        abort: fault.abort.map(|a| FaultAbort {
            percentage: Some(fractional_percent(a.share)),
            error_type: Some(match a.status {
                AbortStatus::Grpc(code) => ErrorType::GrpcStatus(code as u32),
                AbortStatus::Http(status) => ErrorType::HttpStatus(u32::from(status)),
            }),
            ..Default::default()
        }),
        headers: fault.headers.iter().map(header_matcher).collect(),
        max_active_faults: fault.max_active.map(|value| UInt32Value { value }),
        ..Default::default()
    }
}

/// A share as a fraction over the coarsest denominator that says it exactly.
fn fractional_percent(share: Share) -> FractionalPercent {
    let millionths = share.per_million();
    let (numerator, denominator) = if millionths.is_multiple_of(10_000) {
        (millionths / 10_000, DenominatorType::Hundred)
    } else if millionths.is_multiple_of(100) {
        (millionths / 100, DenominatorType::TenThousand)
    } else {
        (millionths, DenominatorType::Million)
    };
    FractionalPercent {
        numerator,
        denominator: denominator as i32,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{FaultAbort as Abort, FaultDelay as Delay, HeaderMatch, StringMatch};

    fn share(per_million: u32) -> Share {
        Share::from_per_million(per_million).unwrap()
    }

    #[test]
    fn shares_use_the_coarsest_exact_denominator() {
        let cases = [
            (200_000, 20, DenominatorType::Hundred),
            (1_000_000, 100, DenominatorType::Hundred),
            (0, 0, DenominatorType::Hundred),
            (5_000, 50, DenominatorType::TenThousand),
            (5, 5, DenominatorType::Million),
        ];
        for (millionths, numerator, denominator) in cases {
            assert_eq!(
                fractional_percent(share(millionths)),
                FractionalPercent {
                    numerator,
                    denominator: denominator as i32
                },
                "{millionths}"
            );
        }
    }

    #[test]
    fn http_fault_carries_delay_abort_headers_and_limit() {
        let fault = FaultInjection {
            delay: Some(Delay {
                delay: Duration::from_millis(100),
                share: share(100_000),
            }),
            abort: Some(Abort {
                status: AbortStatus::Grpc(tonic::Code::Unavailable),
                share: share(200_000),
            }),
            headers: vec![HeaderMatch {
                name: "x-fault".into(),
                matcher: StringMatch::Exact("on".into()),
                invert: false,
            }],
            max_active: Some(100),
        };
        let proto = http_fault(&fault);
        let delay = proto.delay.unwrap();
        assert_eq!(delay.percentage.unwrap().numerator, 10);
        assert_eq!(
            delay.fault_delay_secifier,
            Some(FaultDelaySecifier::FixedDelay(duration(
                Duration::from_millis(100)
            )))
        );
        let abort = proto.abort.unwrap();
        assert_eq!(abort.error_type, Some(ErrorType::GrpcStatus(14)));
        assert_eq!(abort.percentage.unwrap().numerator, 20);
        assert_eq!(proto.headers[0].name, "x-fault");
        assert_eq!(proto.max_active_faults, Some(UInt32Value { value: 100 }));

        let http = http_fault(&FaultInjection {
            abort: Some(Abort {
                status: AbortStatus::Http(503),
                share: share(1_000_000),
            }),
            ..Default::default()
        });
        assert_eq!(
            http.abort.unwrap().error_type,
            Some(ErrorType::HttpStatus(503))
        );
        assert!(http.delay.is_none());
    }
}
