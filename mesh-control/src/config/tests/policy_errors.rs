//! Invalid timeouts, retries, faults and backend policies: each error says file:line, object,
//! field, what is wrong and what is allowed.

use super::{assert_error, error_of, load};

/// HTTPRoute `demo/r` (web:80 -> v1, one rule at line 7) and RoutePolicy `demo/p` targeting it
/// with `spec` (indented by two, starting at line 14).
fn route_policy(spec: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\n\
         kind: HTTPRoute\n\
         metadata: {{name: r, namespace: demo}}\n\
         spec:\n  \
           parentRefs: [{{group: '', kind: Service, name: web, port: 80}}]\n  \
           rules:\n    \
             - backendRefs: [{{name: v1}}]\n\
         ---\n\
         apiVersion: mesh.dev/v1alpha1\n\
         kind: RoutePolicy\n\
         metadata: {{name: p, namespace: demo}}\n\
         spec:\n  \
           targetRefs: [{{kind: HTTPRoute, name: r}}]\n  \
           {spec}\n"
    )
}

/// HTTPRoute `demo/r` (web:80 -> v1) whose one rule (line 7) also has `fields` (line 8).
fn rule_with(fields: &str) -> String {
    format!(
        "apiVersion: gateway.networking.k8s.io/v1\n\
         kind: HTTPRoute\n\
         metadata: {{name: r, namespace: demo}}\n\
         spec:\n  \
           parentRefs: [{{group: '', kind: Service, name: web, port: 80}}]\n  \
           rules:\n    \
             - backendRefs: [{{name: v1}}]\n      \
               {fields}\n"
    )
}

/// BackendPolicy `demo/b` targeting Service v1, with `spec` at line 6.
fn backend_policy(spec: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\n\
         kind: BackendPolicy\n\
         metadata: {{name: b, namespace: demo}}\n\
         spec:\n  \
           targetRefs: [{{kind: Service, name: v1}}]\n  \
           {spec}\n"
    )
}

#[test]
fn durations_must_be_positive_gateway_api_durations() {
    assert_error(
        &route_policy("timeouts: {request: 0s}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.timeouts.request: \"0s\" is zero; \
             use a positive duration such as 500ms or 2s",
        ],
    );
    assert_error(
        &route_policy("timeouts: {request: -2s}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.timeouts.request: \"-2s\" is negative; \
           write a number and a unit (h, m, s or ms), such as 500ms, 2s or 1m30s",
        ],
    );
    assert_error(
        &rule_with("timeouts: {request: 1.5s}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].timeouts.request: \"1.5s\" is not a \
           duration; write a number and a unit (h, m, s or ms)",
        ],
    );
    assert_error(
        &backend_policy("retryBudget: {ttl: 10}"),
        &["test.yaml:6: BackendPolicy demo/b: spec.retryBudget.ttl: \"10\" is not a duration"],
    );
}

#[test]
fn one_attempt_fits_in_the_request_and_needs_a_retry() {
    assert_error(
        &route_policy("timeouts: {request: 1s, perTry: 2s}\n  retry: {codes: [503]}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.timeouts.perTry: \"2s\" is longer than the \
           whole request's \"1s\"; make it at most as long",
        ],
    );
    assert_error(
        &rule_with("timeouts: {request: 1s, backendRequest: 1500ms}\n      retry: {codes: [503]}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].timeouts.backendRequest: \"1500ms\" is \
           longer than the whole request's \"1s\"",
        ],
    );
    assert_error(
        &rule_with("timeouts: {backendRequest: 500ms}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].timeouts.backendRequest: bounds one \
           attempt of a retried request, but this rule has no retry; add `retry`, or use \
           `request` to bound the whole request",
        ],
    );
    assert_error(
        &route_policy("timeouts: {perTry: 500ms}"),
        &[
            "spec.timeouts.perTry: bounds one attempt of a retried request, but this policy has no retry",
        ],
    );
}

#[test]
fn attempts_stay_within_what_grpc_allows() {
    assert_error(
        &route_policy("retry: {attempts: 5, grpcCodes: [UNAVAILABLE]}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.retry.attempts: 5 is out of range; use 1 to 4 \
           (the retries after the first attempt; gRPC makes at most 5 attempts in all)",
        ],
    );
    assert_error(
        &rule_with("retry: {attempts: 0}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].retry.attempts: 0 is out of range; use 1 to 4",
        ],
    );
}

#[test]
fn status_names_and_numbers_are_checked() {
    assert_error(
        &route_policy("retry: {grpcCodes: [UNAVAILABLE, NOT_FOUND]}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.retry.grpcCodes[1]: \"NOT_FOUND\" is not allowed \
           here; use one of CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE",
        ],
    );
    assert_error(
        &route_policy("fault: {abort: {grpcStatus: Unavailable}}"),
        &[
            "spec.fault.abort.grpcStatus: \"Unavailable\" is not allowed here; use one of CANCELLED, \
           UNKNOWN, INVALID_ARGUMENT",
            "UNAUTHENTICATED",
        ],
    );
    assert_error(
        &rule_with("retry: {codes: [503, 404]}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].retry.codes[1]: 404 is out of range; use \
           500 to 599 (an HTTP status)",
        ],
    );
    assert_error(
        &route_policy("fault: {abort: {httpStatus: 100}}"),
        &["spec.fault.abort.httpStatus: 100 is out of range; use 200 to 599 (an HTTP status)"],
    );
    assert_error(
        &route_policy("fault: {abort: {httpStatus: 503, grpcStatus: UNAVAILABLE}}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.fault.abort: needs exactly one of grpcStatus \
           (such as UNAVAILABLE) and httpStatus (such as 503)",
        ],
    );
}

#[test]
fn percentages_are_from_0_to_100() {
    assert_error(
        &route_policy("fault: {delay: {fixed: 1s, percent: 100.5}}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.fault.delay.percent: 100.5 is out of range; use \
           a number 0 to 100 (a percentage of requests)",
        ],
    );
    assert_error(
        &route_policy("fault: {abort: {httpStatus: 503, percent: -1}}"),
        &["spec.fault.abort.percent: -1 is out of range"],
    );
    assert_error(
        &backend_policy("outlierDetection: {maxEjectionPercent: 101, consecutiveFailures: 5}"),
        &[
            "test.yaml:6: BackendPolicy demo/b: spec.outlierDetection.maxEjectionPercent: 101 is out \
           of range; use 0 to 100 (the most endpoints ejected at once, in percent)",
        ],
    );
}

#[test]
fn budget_ratio_is_above_0_and_at_most_1() {
    for ratio in ["0", "1.5", "-0.1"] {
        let yaml = backend_policy(&format!("retryBudget: {{ratio: {ratio}}}"));
        assert_error(
            &yaml,
            &[
                "test.yaml:6: BackendPolicy demo/b: spec.retryBudget.ratio: ",
                " is out of range; use \
               a number above 0 and at most 1 (retries allowed per request)",
            ],
        );
    }
}

#[test]
fn ring_hash_needs_a_header_and_sane_sizes() {
    assert_error(
        &backend_policy("loadBalancer: {type: RingHash}"),
        &[
            "test.yaml:6: BackendPolicy demo/b: spec.loadBalancer.ringHash.header: is needed by \
           RingHash: name the request header whose value picks the endpoint, such as \
           `ringHash: {header: x-user-id}`",
        ],
    );
    assert_error(
        &backend_policy("loadBalancer: {type: RingHash, ringHash: {minRingSize: 10}}"),
        &["spec.loadBalancer.ringHash.header: is needed by RingHash"],
    );
    assert_error(
        &backend_policy("loadBalancer: {type: RoundRobin, ringHash: {header: x-user}}"),
        &[
            "test.yaml:6: BackendPolicy demo/b: spec.loadBalancer.ringHash: only goes with \
           `type: RingHash`; remove it or change the type",
        ],
    );
    assert_error(
        &backend_policy(
            "loadBalancer:\n    type: RingHash\n    \
             ringHash: {header: x-user, minRingSize: 5000, maxRingSize: 4096}",
        ),
        &[
            "test.yaml:8: BackendPolicy demo/b: spec.loadBalancer.ringHash.minRingSize: 5000 is \
           above maxRingSize 4096; make it at most maxRingSize",
        ],
    );
    // As in xDS, a ring has at most 8M entries.
    assert_error(
        &backend_policy(
            "loadBalancer: {type: RingHash, ringHash: {header: x, maxRingSize: 8388609}}",
        ),
        &[
            "spec.loadBalancer.ringHash.maxRingSize: 8388609 is out of range; use 1 to 8388608 \
           (entries on the hash ring)",
        ],
    );
    assert_error(
        &backend_policy("loadBalancer: {type: LeastRequest}"),
        &[
            "spec.loadBalancer.type: \"LeastRequest\" is not a load balancer type; use P2CPeakEWMA \
           (the default), P2CLeastRequest, RoundRobin or RingHash",
        ],
    );
}

#[test]
fn unknown_fields_are_typos() {
    assert_error(
        &route_policy("retry: {attempts: 2, retryOn: [5xx]}"),
        &["test.yaml:14: RoutePolicy demo/p: unknown field `retryOn`, expected one of"],
    );
    assert_error(
        &backend_policy("outlierDetection:\n    intervall: 1s"),
        &["test.yaml:7: BackendPolicy demo/b: unknown field `intervall`, expected one of"],
    );
}

#[test]
fn targets_must_exist_and_be_of_the_right_kind() {
    let to_route = |target: &str| {
        route_policy("timeouts: {request: 1s}").replace("[{kind: HTTPRoute, name: r}]", target)
    };
    assert_error(
        &to_route("[{kind: HTTPRoute, name: nope}]"),
        &[
            "test.yaml:13: RoutePolicy demo/p: spec.targetRefs[0].name: HTTPRoute demo/nope does \
           not exist; create it or fix the name (a RoutePolicy applies to objects of its own \
           namespace)",
        ],
    );
    assert_error(
        &to_route("[{kind: GRPCRoute, name: r}]"),
        &["spec.targetRefs[0].name: GRPCRoute demo/r does not exist"],
    );
    assert_error(
        &to_route("[{kind: Service, name: web}]"),
        &[
            "spec.targetRefs[0].kind: \"Service\": a RoutePolicy applies to HTTPRoute or GRPCRoute \
           only; use `kind: HTTPRoute`",
        ],
    );
    assert_error(
        &to_route("[{group: '', kind: HTTPRoute, name: r}]"),
        &[
            "spec.targetRefs[0].group: \"\" is not the group of HTTPRoute or GRPCRoute; use \
           `group: \"gateway.networking.k8s.io\"` or leave it out",
        ],
    );
    assert_error(
        &to_route("[]"),
        &[
            "test.yaml:9: RoutePolicy demo/p: spec.targetRefs: is empty; name what the RoutePolicy \
           applies to (HTTPRoute or GRPCRoute), such as `targetRefs: [{group: \
           gateway.networking.k8s.io, kind: GRPCRoute, name: serviceb-split}]`",
        ],
    );
    assert_error(
        &backend_policy("circuitBreaker: {maxRequests: 10}").replace("name: v1", "name: v9"),
        &[
            "test.yaml:5: BackendPolicy demo/b: spec.targetRefs[0].name: Service demo/v9 does not \
           exist; create it or fix the name",
        ],
    );
    assert_error(
        &backend_policy("circuitBreaker: {maxRequests: 10}").replace("kind: Service", "kind: Pod"),
        &[
            "spec.targetRefs[0].kind: \"Pod\": a BackendPolicy applies to Service only; use `kind: Service`",
        ],
    );
}

#[test]
fn one_policy_per_route_and_per_service() {
    let second_route_policy = "---\napiVersion: mesh.dev/v1alpha1\nkind: RoutePolicy\n\
                               metadata: {name: q, namespace: demo}\n\
                               spec: {targetRefs: [{kind: HTTPRoute, name: r}], retry: {codes: [503]}}\n";
    let yaml = route_policy("timeouts: {request: 1s}") + second_route_policy;
    assert_error(
        &yaml,
        &[
            "test.yaml:19: RoutePolicy demo/q: spec.targetRefs[0]: HTTPRoute demo/r already has \
           RoutePolicy demo/p at test.yaml:9; a route takes one RoutePolicy: merge them",
        ],
    );
    let yaml = backend_policy("circuitBreaker: {maxRequests: 10}")
        + &backend_policy("retryBudget: {ratio: 0.5}")
            .replace("name: b,", "name: c,")
            .replacen("apiVersion", "---\napiVersion", 1);
    assert_error(
        &yaml,
        &[
            "test.yaml:12: BackendPolicy demo/c: spec.targetRefs[0]: Service demo/v1 already has \
           BackendPolicy demo/b at test.yaml:1; a Service takes one BackendPolicy: merge them",
        ],
    );
}

#[test]
fn a_field_set_by_the_rule_and_the_policy_names_both() {
    let yaml = route_policy("timeouts: {request: 1s}\n  retry: {codes: [503]}").replace(
        "backendRefs: [{name: v1}]",
        "backendRefs: [{name: v1}]\n      timeouts: {request: 2s}",
    );
    assert_error(
        &yaml,
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].timeouts: is also set by RoutePolicy \
           demo/p (spec.timeouts) at test.yaml:15; set timeouts in one place",
        ],
    );
}

#[test]
fn grpc_routes_take_timeouts_from_a_route_policy_only() {
    let yaml = "apiVersion: gateway.networking.k8s.io/v1\nkind: GRPCRoute\n\
                metadata: {name: g, namespace: demo}\nspec:\n  \
                parentRefs: [{group: '', kind: Service, name: web, port: 9090}]\n  \
                rules:\n  - backendRefs: [{name: v1}]\n    retry: {attempts: 2}\n";
    assert_error(
        yaml,
        &[
            "test.yaml:8: GRPCRoute demo/g: spec.rules[0].retry: GRPCRoute rules have no retry in \
           Gateway API; set it in a RoutePolicy targeting GRPCRoute demo/g",
        ],
    );
}

#[test]
fn policies_that_do_nothing_are_refused() {
    assert_error(
        &route_policy("retry: {connectFailure: false}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.retry: retries nothing; list grpcCodes or codes, \
           or set connectFailure: true",
        ],
    );
    assert_error(
        &route_policy("fault: {maxActive: 3}"),
        &["test.yaml:14: RoutePolicy demo/p: spec.fault: injects nothing; add a delay"],
    );
    assert_error(
        &route_policy("metadata: {}").replace("  metadata: {}\n", ""),
        &["test.yaml:9: RoutePolicy demo/p: spec: sets nothing; add timeouts, retry or fault"],
    );
    assert_error(
        &route_policy("retry: {codes: [503], backoff: {base: 100ms, max: 50ms}}"),
        &[
            "spec.retry.backoff.max: \"50ms\" is shorter than the base pause (100ms); make it at \
           least as long",
        ],
    );
}

#[test]
fn routes_to_two_ring_hash_services_need_one_header() {
    let ring = |name: &str, service: &str, header: &str| {
        format!(
            "---\napiVersion: mesh.dev/v1alpha1\nkind: BackendPolicy\n\
             metadata: {{name: {name}, namespace: demo}}\n\
             spec:\n  targetRefs: [{{kind: Service, name: {service}}}]\n  \
             loadBalancer: {{type: RingHash, ringHash: {{header: {header}}}}}\n"
        )
    };
    let route = rule_with("name: split").replace("[{name: v1}]", "[{name: v1}, {name: v2}]");
    let yaml = route + &ring("h1", "v1", "x-a") + &ring("h2", "v2", "x-b");
    let text = error_of(&yaml);
    assert!(
        text.contains(
            "test.yaml:22: BackendPolicy demo/h2: spec.loadBalancer.ringHash.header: \"x-b\" \
             differs from \"x-a\", the header of BackendPolicy demo/h1 at test.yaml:10, while \
             route demo/r/rule0/match0 forwards to the Services of both; hash the same header"
        ),
        "{text}"
    );
}

#[test]
fn outlier_settings_survive_xds() {
    // xDS says "off" with an enforcing percentage of 0, so off is said by leaving it out.
    for algorithm in ["successRate", "failurePercentage"] {
        assert_error(
            &backend_policy(&format!(
                "outlierDetection: {{consecutiveFailures: 5, {algorithm}: {{enforcingPercent: 0}}}}"
            )),
            &[&format!(
                "test.yaml:6: BackendPolicy demo/b: spec.outlierDetection.{algorithm}.\
                 enforcingPercent: 0 is out of range; use 1 to 100 ("
            )],
        );
        let text = error_of(&backend_policy(&format!(
            "outlierDetection: {{{algorithm}: {{enforcingPercent: 0}}}}"
        )));
        assert!(
            text.contains(&format!("to turn {algorithm} off, remove it")),
            "{text}"
        );
    }
    // The factor travels in thousandths: below 0.001 it would be 0.
    assert_error(
        &backend_policy("outlierDetection: {successRate: {stdevFactor: 0.0004}}"),
        &[
            "spec.outlierDetection.successRate.stdevFactor: 0.0004 is out of range; use a number \
           0.001 to 1000 (standard deviations below the mean success rate, in steps of 0.001)",
        ],
    );
    assert_error(
        &backend_policy("outlierDetection: {successRate: {stdevFactor: 1.2345}}"),
        &[
            "test.yaml:6: BackendPolicy demo/b: spec.outlierDetection.successRate.stdevFactor: \
           1.2345 is not a multiple of 0.001; xDS carries the factor in thousandths, so use 1.23",
        ],
    );
    assert!(
        load(&backend_policy(
            "outlierDetection: {successRate: {stdevFactor: 0.001}}"
        ))
        .is_ok()
    );
}

#[test]
fn empty_blocks_are_refused() {
    assert_error(
        &backend_policy("outlierDetection: {interval: 1s}"),
        &[
            "test.yaml:6: BackendPolicy demo/b: spec.outlierDetection: ejects nothing; add \
           consecutiveFailures, successRate or failurePercentage",
        ],
    );
    assert_error(
        &route_policy("timeouts: {}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.timeouts: sets nothing; add request or \
           perTry, or remove timeouts",
        ],
    );
    assert_error(
        &rule_with("timeouts: {}"),
        &[
            "test.yaml:8: HTTPRoute demo/r: spec.rules[0].timeouts: sets nothing; add request or \
           backendRequest, or remove timeouts",
        ],
    );
    assert_error(
        &route_policy("retry: {codes: [503], backoff: {}}"),
        &[
            "test.yaml:14: RoutePolicy demo/p: spec.retry.backoff: sets nothing; add base (and \
           max), or remove backoff",
        ],
    );
    // An empty `timeouts` no longer stands in the way of the rule's own.
    let yaml = route_policy("timeouts: {}").replace(
        "backendRefs: [{name: v1}]",
        "backendRefs: [{name: v1}]\n      timeouts: {request: 2s}",
    );
    let text = error_of(&yaml);
    assert!(!text.contains("is also set by"), "{text}");
}
