//! Invalid AuthorizationPolicies and RateLimitPolicies: each error says file:line, object,
//! field, what is wrong and what to do.

use super::{assert_error, error_of, load};

/// AuthorizationPolicy `demo/a` targeting Service v1; `spec` (indented by two) starts at line 6.
fn authz(spec: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\n\
         kind: AuthorizationPolicy\n\
         metadata: {{name: a, namespace: demo}}\n\
         spec:\n  \
           targetRefs: [{{kind: Service, name: v1}}]\n\
         {spec}\n"
    )
}

/// [`authz`] with one rule at line 7: `rules: [<rule>]`.
fn rule(rule: &str) -> String {
    authz(&format!("  defaultAction: DENY\n  rules: [{rule}]"))
}

/// RateLimitPolicy `demo/r` targeting Service v1; `spec` is at line 6.
fn rate(spec: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\n\
         kind: RateLimitPolicy\n\
         metadata: {{name: r, namespace: demo}}\n\
         spec:\n  \
           targetRefs: [{{kind: Service, name: v1}}]\n  \
           {spec}\n"
    )
}

#[test]
fn unknown_fields_and_actions_are_refused() {
    assert_error(
        &rule("{action: ALLOW, form: [{namespace: demo}]}"),
        &["test.yaml:7: AuthorizationPolicy demo/a: unknown field `form`"],
    );
    assert_error(
        &rule("{action: ALLOW, from: [{serviceAcount: web}]}"),
        &["test.yaml:7: AuthorizationPolicy demo/a: unknown field `serviceAcount`"],
    );
    assert_error(
        &rate("requestsPerSecond: 10\n  brust: 5"),
        &["test.yaml:7: RateLimitPolicy demo/r: unknown field `brust`"],
    );
    assert_error(
        &rule("{action: PERMIT}"),
        &[
            "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].action: \"PERMIT\" is not an \
             action; use ALLOW or DENY",
        ],
    );
    assert_error(
        &authz("  defaultAction: allow"),
        &[
            "test.yaml:6: AuthorizationPolicy demo/a: spec.defaultAction: \"allow\" is not an action",
        ],
    );
}

#[test]
fn spiffe_ids_must_be_well_formed() {
    let id = |matcher: &str| {
        rule(&format!(
            "{{action: ALLOW, from: [{{spiffeId: {matcher}}}]}}"
        ))
    };
    let field = "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].from[0].spiffeId";
    assert_error(
        &id("{exact: 'https://cluster.local/ns/demo/sa/a'}"),
        &[
            &format!("{field}.exact: \"https://cluster.local/ns/demo/sa/a\" is not a SPIFFE ID"),
            "write spiffe://<trust domain>/<path>",
        ],
    );
    assert_error(
        &id("{exact: 'spiffe://cluster.local/ns//sa/a'}"),
        &["is not a SPIFFE ID (path cannot contain empty segments)"],
    );
    assert_error(
        &id("{exact: 'spiffe://cluster.local'}"),
        &["names a trust domain, not a workload; add the path"],
    );
    assert_error(
        &id("{exact: 'spiffe://Cluster.Local/ns/demo/sa/a'}"),
        &["is not how certificates write it; write spiffe://cluster.local/ns/demo/sa/a"],
    );
    assert_error(
        &id("{prefix: 'spiffe://cluster.local'}"),
        &[&format!(
            "{field}.prefix: \"spiffe://cluster.local\" does not start with spiffe://<trust domain>/"
        )],
    );
    assert_error(
        &id("{prefix: 'spiffe://bad domain/ns/'}"),
        &["\"bad domain\" is not a trust domain"],
    );
    assert_error(&id("{suffix: ''}"), &[&format!("{field}.suffix: is empty")]);
    assert_error(
        &id("{exact: 'spiffe://cluster.local/a', prefix: 'spiffe://cluster.local/'}"),
        &[&format!(
            "{field}: must set exactly one of exact, prefix and suffix"
        )],
    );
}

#[test]
fn callers_are_one_per_entry_and_named_properly() {
    let field = "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].from[0]";
    assert_error(
        &rule("{action: ALLOW, from: [{namespace: demo, serviceAccount: web}]}"),
        &[&format!(
            "{field}: names more than one caller; write one of serviceAccount"
        )],
    );
    assert_error(
        &rule("{action: ALLOW, from: [{}]}"),
        &[&format!("{field}: names no caller")],
    );
    assert_error(
        &rule("{action: ALLOW, from: [{serviceAccount: a/b/c}]}"),
        &[
            &format!("{field}.serviceAccount: \"b/c\" is not a valid name"),
            "(a service account name)",
        ],
    );
    assert_error(
        &rule("{action: ALLOW, from: [{namespace: Demo}]}"),
        &[&format!("{field}.namespace: \"Demo\" is not a valid name")],
    );
    assert_error(
        &rule("{action: ALLOW, from: [{authenticated: false}]}"),
        &[&format!("{field}.authenticated: `false` is not supported")],
    );
}

#[test]
fn rules_that_can_never_match_are_refused() {
    assert_error(
        &rule("{action: ALLOW, from: []}"),
        &[
            "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].from: is empty, so the rule \
             matches no caller; leave out `from` to match every caller",
        ],
    );
    assert_error(
        &rule("{action: ALLOW, to: []}"),
        &["spec.rules[0].to: is empty, so the rule matches no request"],
    );
    assert_error(
        &rule("{action: ALLOW, to: [{grpc: {service: demo.ServiceB}, methods: [POST, GET]}]}"),
        &[
            "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].to[0].methods[1]: GET can \
             never match: gRPC calls are POST requests",
        ],
    );
    // What the rest of the policy makes pointless.
    assert_error(
        &authz("  defaultAction: ALLOW\n  rules:\n  - {action: ALLOW, from: [{namespace: demo}]}"),
        &[
            "test.yaml:8: AuthorizationPolicy demo/a: spec.rules[0].action: ALLOW changes nothing \
             under `defaultAction: ALLOW`",
        ],
    );
    assert_error(
        &authz("  defaultAction: DENY\n  rules:\n  - {action: DENY, from: [{namespace: demo}]}"),
        &[
            "test.yaml:8:",
            "spec.rules[0].action: DENY changes nothing under `defaultAction: DENY` when no rule allows",
        ],
    );
    // With an ALLOW rule beside it, a DENY rule carves an exception out of it.
    let exception = authz(
        "  defaultAction: DENY\n  rules:\n  - {action: DENY, to: [{path: {prefix: /admin}}]}\n  \
         - {action: ALLOW, from: [{namespace: demo}]}",
    );
    assert!(load(&exception).is_ok());
}

#[test]
fn requests_are_named_by_grpc_or_path() {
    let field = "test.yaml:7: AuthorizationPolicy demo/a: spec.rules[0].to[0]";
    let to = |op: &str| rule(&format!("{{action: ALLOW, to: [{op}]}}"));
    assert_error(
        &to("{grpc: {service: demo.B}, path: {exact: /x}}"),
        &[&format!("{field}: has both grpc and path")],
    );
    assert_error(
        &to("{grpc: {service: demo/B}}"),
        &[&format!(
            "{field}.grpc.service: \"demo/B\" is not a gRPC service name"
        )],
    );
    assert_error(
        &to("{grpc: {service: demo.B, method: ''}}"),
        &[&format!(
            "{field}.grpc.method: \"\" is not a gRPC method name"
        )],
    );
    assert_error(
        &to("{path: {prefix: hello}}"),
        &[&format!(
            "{field}.path.prefix: \"hello\" does not start with '/'; write it as /hello"
        )],
    );
    assert_error(
        &to("{methods: [FETCH]}"),
        &[&format!(
            "{field}.methods[0]: \"FETCH\" is not an HTTP method"
        )],
    );
    assert_error(
        &to("{headers: [{name: 'x tenant', value: blue}]}"),
        &[&format!(
            "{field}.headers[0].name: \"x tenant\" is not a valid header name"
        )],
    );
    assert_error(&to("{}"), &[&format!("{field}: names no request")]);
}

#[test]
fn rule_names_are_checked_and_unique() {
    assert_error(
        &authz("  rules:\n  - {name: reads, action: DENY}\n  - {name: reads, action: DENY}"),
        &[
            "test.yaml:8: AuthorizationPolicy demo/a: spec.rules[1].name: \"reads\" is also the \
             name of spec.rules[0]",
        ],
    );
    assert_error(
        &authz("  rules:\n  - {name: rule-1, action: DENY}\n  - {action: DENY}"),
        &["spec.rules[1].name: \"rule-1\" is also the name of spec.rules[0]"],
    );
    assert_error(
        &authz("  rules:\n  - {name: Reads, action: DENY}"),
        &[
            "test.yaml:7:",
            "spec.rules[0].name: \"Reads\" is not a valid name",
        ],
    );
}

#[test]
fn a_service_takes_one_policy_of_each_kind() {
    let second_authz = format!(
        "{}---\n{}",
        authz("  defaultAction: DENY"),
        authz("  defaultAction: DENY").replace("name: a,", "name: b,")
    );
    assert_error(
        &second_authz,
        &[
            "test.yaml:12: AuthorizationPolicy demo/b: spec.targetRefs[0]: Service demo/v1 \
             already has AuthorizationPolicy demo/a at test.yaml:1; a Service takes one \
             AuthorizationPolicy: merge them",
        ],
    );
    let second_rate = format!(
        "{}---\n{}",
        rate("requestsPerSecond: 10"),
        rate("requestsPerSecond: 20").replace("name: r,", "name: s,")
    );
    assert_error(
        &second_rate,
        &[
            "test.yaml:12: RateLimitPolicy demo/s: spec.targetRefs[0]: Service demo/v1 already has \
           RateLimitPolicy demo/r at test.yaml:1",
        ],
    );
    assert_error(
        &authz("  defaultAction: DENY").replace("name: v1", "name: nope"),
        &["spec.targetRefs[0].name: Service demo/nope does not exist"],
    );
}

#[test]
fn rates_and_bursts_must_be_positive_and_reachable() {
    let field = "test.yaml:6: RateLimitPolicy demo/r: spec";
    assert_error(
        &rate("requestsPerSecond: 0"),
        &[&format!(
            "{field}.requestsPerSecond: 0 is out of range; use 1 to 10000000"
        )],
    );
    assert_error(
        &rate("requestsPerSecond: -5"),
        &[&format!("{field}.requestsPerSecond: -5 is out of range")],
    );
    assert_error(
        &rate("requestsPerSecond: 10\n  burst: 0"),
        &["test.yaml:7: RateLimitPolicy demo/r: spec.burst: 0 is out of range; use 1 to 10000000"],
    );
    assert_error(
        &rate("requestsPerSecond: 1000\n  burst: 10"),
        &[
            "test.yaml:7: RateLimitPolicy demo/r: spec.burst: 10 is below 50, the requests one \
             refill adds (refills come every 50ms or more, so at 1000 per second each adds 50)",
        ],
    );
    assert!(error_of(&rate("requestsPerSecond: 2.5")).contains("test.yaml:6"));
}
