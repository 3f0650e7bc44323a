use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    NonForwardingAction, RetryPolicy, RouteConfiguration,
    route_action::{
        HashPolicy,
        hash_policy::{FilterState, Header},
    },
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, fault_delay::FaultDelaySecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::google::protobuf::Duration as ProtoDuration;

use super::*;
use crate::xds::decode::fixtures::{any, route_config as fixture};
use crate::xds::decode::route_config;
use crate::xds::type_url;

fn seconds(seconds: i64) -> Option<ProtoDuration> {
    Some(ProtoDuration { seconds, nanos: 0 })
}

fn the_route(rc: &mut RouteConfiguration) -> &mut Route {
    &mut rc.virtual_hosts[0].routes[0]
}

fn the_action(rc: &mut RouteConfiguration) -> &mut RouteAction {
    match &mut the_route(rc).action {
        Some(route::Action::Route(a)) => a,
        other => panic!("not a route action: {other:?}"),
    }
}

fn policy_of(rc: &RouteConfiguration) -> RoutePolicy {
    route_config(rc).unwrap().virtual_hosts[0].routes[0]
        .policy
        .clone()
}

fn delay_config(secs: i64) -> envoy_types::pb::google::protobuf::Any {
    any(
        type_url::HTTP_FAULT,
        &HttpFault {
            delay: Some(FaultDelay {
                percentage: None,
                fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(ProtoDuration {
                    seconds: secs,
                    nanos: 0,
                })),
            }),
            ..Default::default()
        },
    )
}

#[test]
fn a_bare_route_has_the_default_policy() {
    assert_eq!(policy_of(&fixture("rc", "c")), RoutePolicy::default());
}

#[test]
fn timeout_prefers_grpc_timeout_header_max_and_zero_is_none() {
    let mut rc = fixture("rc", "c");
    the_action(&mut rc).max_stream_duration = Some(MaxStreamDuration {
        max_stream_duration: seconds(2),
        ..Default::default()
    });
    assert_eq!(policy_of(&rc).timeout, Some(Duration::from_secs(2)));
    the_action(&mut rc)
        .max_stream_duration
        .as_mut()
        .unwrap()
        .grpc_timeout_header_max = seconds(3);
    assert_eq!(policy_of(&rc).timeout, Some(Duration::from_secs(3)));
    the_action(&mut rc).max_stream_duration = Some(MaxStreamDuration {
        max_stream_duration: seconds(0),
        ..Default::default()
    });
    assert_eq!(policy_of(&rc).timeout, None);
    the_action(&mut rc).max_stream_duration = Some(MaxStreamDuration {
        max_stream_duration: seconds(-1),
        ..Default::default()
    });
    assert_eq!(
        route_config(&rc).unwrap_err().field,
        "virtual_hosts[0].routes[0].route.max_stream_duration.max_stream_duration"
    );
}

#[test]
fn the_route_retry_policy_replaces_the_virtual_hosts() {
    let mut rc = fixture("rc", "c");
    rc.virtual_hosts[0].retry_policy = Some(RetryPolicy {
        retry_on: "unavailable".into(),
        ..Default::default()
    });
    let retry = policy_of(&rc).retry.unwrap();
    assert_eq!(retry.retry_on.grpc_codes, [tonic::Code::Unavailable]);

    the_action(&mut rc).retry_policy = Some(RetryPolicy {
        retry_on: "internal".into(),
        ..Default::default()
    });
    let retry = policy_of(&rc).retry.unwrap();
    assert_eq!(retry.retry_on.grpc_codes, [tonic::Code::Internal]);

    the_action(&mut rc).retry_policy = Some(RetryPolicy {
        retry_on: "reset".into(),
        ..Default::default()
    });
    assert_eq!(policy_of(&rc).retry, None, "as gRPC: the route's own wins");
}

#[test]
fn retry_errors_carry_the_path() {
    let mut rc = fixture("rc", "c");
    rc.virtual_hosts[0].retry_policy = Some(RetryPolicy {
        retry_on: "unavailable".into(),
        retry_back_off: Some(Default::default()),
        ..Default::default()
    });
    assert_eq!(
        route_config(&rc).unwrap_err().field,
        "virtual_hosts[0].retry_policy.retry_back_off.base_interval"
    );
}

#[test]
fn the_route_fault_replaces_the_virtual_hosts() {
    let mut rc = fixture("rc", "c");
    rc.virtual_hosts[0]
        .typed_per_filter_config
        .insert("fault".into(), delay_config(1));
    let fault = policy_of(&rc).fault.unwrap();
    assert_eq!(fault.delay.unwrap().delay, Duration::from_secs(1));

    the_route(&mut rc)
        .typed_per_filter_config
        .insert("envoy.filters.http.fault".into(), delay_config(2));
    let fault = policy_of(&rc).fault.unwrap();
    assert_eq!(fault.delay.unwrap().delay, Duration::from_secs(2));

    the_route(&mut rc).typed_per_filter_config.insert(
        "envoy.filters.http.fault".into(),
        any(type_url::HTTP_FAULT, &HttpFault::default()),
    );
    assert_eq!(policy_of(&rc).fault, None, "an empty config overrides");
}

#[test]
fn non_forwarding_routes_keep_their_faults() {
    let mut rc = fixture("rc", "c");
    let r = the_route(&mut rc);
    r.action = Some(route::Action::NonForwardingAction(NonForwardingAction {}));
    r.typed_per_filter_config
        .insert("fault".into(), delay_config(1));
    let policy = policy_of(&rc);
    assert!(policy.fault.is_some());
    assert_eq!(policy.retry, None);
}

#[test]
fn hash_header_is_the_first_header_policy() {
    let header = |name: &str| HashPolicy {
        terminal: false,
        policy_specifier: Some(PolicySpecifier::Header(Header {
            header_name: name.into(),
            regex_rewrite: None,
        })),
    };
    let channel_id = HashPolicy {
        terminal: false,
        policy_specifier: Some(PolicySpecifier::FilterState(FilterState {
            key: "io.grpc.channel_id".into(),
        })),
    };
    let mut rc = fixture("rc", "c");
    the_action(&mut rc).hash_policy = vec![channel_id, header("X-User"), header("x-other")];
    assert_eq!(policy_of(&rc).hash_header.as_deref(), Some("x-user"));

    the_action(&mut rc).hash_policy = vec![header("")];
    assert_eq!(
        route_config(&rc).unwrap_err().field,
        "virtual_hosts[0].routes[0].route.hash_policy[0].header.header_name"
    );
}
