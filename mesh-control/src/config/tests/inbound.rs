//! AuthorizationPolicies and RateLimitPolicies: what the servers of a Service accept.

use std::time::Duration;

use mesh_core::model::{AuthzAction, HeaderMatch, LocalRateLimit, Permission, StringMatch};

use super::load;
use crate::config::{
    AuthorizationConfig, AuthzRuleConfig, Caller, MeshConfig, ServiceRef, WorkloadIdentity,
    embedded_default,
};

fn authorization<'a>(config: &'a MeshConfig, service: &str) -> Option<&'a AuthorizationConfig> {
    config.services[&ServiceRef::new("demo", service)]
        .authorization
        .as_ref()
}

fn rate_limit(config: &MeshConfig, service: &str) -> Option<LocalRateLimit> {
    config.services[&ServiceRef::new("demo", service)].rate_limit
}

fn path(matcher: StringMatch, method: Option<&str>) -> Permission {
    Permission {
        path: Some(matcher),
        method: method.map(Into::into),
        headers: Vec::new(),
    }
}

#[test]
fn an_authorization_policy_names_callers_and_requests() {
    let policy = "\
apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: callers, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: v1}, {group: '', kind: Service, name: v2}]
  rules:
  - name: no-admin
    action: DENY
    to: [{path: {prefix: /admin/}}]
  - action: ALLOW
    from:
    - serviceAccount: web
    - serviceAccount: ops/robot
    - namespace: tools
    - spiffeId: {prefix: spiffe://cluster.local/ns/batch/}
    - spiffeId: {suffix: /sa/reader}
    - authenticated: true
    to:
    - grpc: {service: demo.ServiceB, method: Get}
    - grpc: {service: demo.Admin}
    - path: {exact: /hello}
      methods: [GET, HEAD, GET]
      headers: [{name: X-Tenant, value: blue}]
";
    let config = load(policy).unwrap();
    let identity = |ns: &str, sa: &str| WorkloadIdentity {
        namespace: ns.into(),
        service_account: sa.into(),
    };
    let tenant = vec![HeaderMatch {
        name: "x-tenant".into(),
        matcher: StringMatch::Exact("blue".into()),
        invert: false,
    }];
    let hello = |method: &str| Permission {
        headers: tenant.clone(),
        ..path(StringMatch::Exact("/hello".into()), Some(method))
    };
    let expected = AuthorizationConfig {
        policy: "demo/callers".into(),
        rules: vec![
            AuthzRuleConfig {
                name: "demo/callers/no-admin".into(),
                action: AuthzAction::Deny,
                from: vec![],
                to: vec![path(StringMatch::Prefix("/admin/".into()), None)],
            },
            AuthzRuleConfig {
                name: "demo/callers/rule-1".into(),
                action: AuthzAction::Allow,
                from: vec![
                    Caller::ServiceAccount(identity("demo", "web")),
                    Caller::ServiceAccount(identity("ops", "robot")),
                    Caller::Namespace("tools".into()),
                    Caller::SpiffeId(StringMatch::Prefix(
                        "spiffe://cluster.local/ns/batch/".into(),
                    )),
                    Caller::SpiffeId(StringMatch::Suffix("/sa/reader".into())),
                    Caller::Authenticated,
                ],
                to: vec![
                    path(StringMatch::Exact("/demo.ServiceB/Get".into()), None),
                    path(StringMatch::Prefix("/demo.Admin/".into()), None),
                    hello("GET"),
                    hello("HEAD"),
                ],
            },
        ],
        // An ALLOW rule and no defaultAction: what no rule allows is denied.
        default_action: AuthzAction::Deny,
    };
    assert_eq!(authorization(&config, "v1"), Some(&expected));
    assert_eq!(authorization(&config, "v2"), Some(&expected));
    assert_eq!(authorization(&config, "web"), None);
}

#[test]
fn without_allow_rules_the_default_is_to_allow() {
    let policy = "\
apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: v1}]
  rules: [{action: DENY, from: [{namespace: untrusted}]}]
";
    let config = load(policy).unwrap();
    let authz = authorization(&config, "v1").unwrap();
    assert_eq!(authz.default_action, AuthzAction::Allow);
    assert_eq!(authz.rules[0].to, []);
    // An explicit default wins, and a policy without rules may deny everything.
    let lockdown = policy.replace(
        "  rules: [{action: DENY, from: [{namespace: untrusted}]}]\n",
        "  defaultAction: DENY\n",
    );
    let config = load(&lockdown).unwrap();
    let authz = authorization(&config, "v1").unwrap();
    assert_eq!(
        (authz.default_action, authz.rules.len()),
        (AuthzAction::Deny, 0)
    );
}

#[test]
fn a_rate_limit_policy_becomes_a_token_bucket_refilled_every_50ms_or_more() {
    let policy = |spec: &str| {
        format!(
            "apiVersion: mesh.dev/v1alpha1\nkind: RateLimitPolicy\n\
             metadata: {{name: r, namespace: demo}}\n\
             spec:\n  targetRefs: [{{kind: Service, name: v1}}]\n  {spec}\n"
        )
    };
    let bucket = |spec: &str| rate_limit(&load(&policy(spec)).unwrap(), "v1").unwrap();
    let limit = |max_tokens, tokens_per_fill, fill_interval| LocalRateLimit {
        max_tokens,
        tokens_per_fill,
        fill_interval,
    };
    let ms = Duration::from_millis;
    // 100/s: 5 tokens every 50ms; the burst defaults to a tenth of a second's worth.
    assert_eq!(bucket("requestsPerSecond: 100"), limit(10, 5, ms(50)));
    assert_eq!(
        bucket("requestsPerSecond: 100\n  burst: 200"),
        limit(200, 5, ms(50))
    );
    // Below 20/s one token at a time, further apart.
    assert_eq!(bucket("requestsPerSecond: 1"), limit(1, 1, ms(1000)));
    assert_eq!(bucket("requestsPerSecond: 4"), limit(1, 1, ms(250)));
    // 30/s: 2 tokens every 66.67ms, the smallest whole refill at 50ms or more.
    assert_eq!(
        bucket("requestsPerSecond: 30"),
        limit(3, 2, Duration::from_nanos(66_666_666))
    );
    assert_eq!(
        rate_limit(&load(&policy("requestsPerSecond: 1")).unwrap(), "v2"),
        None
    );
}

#[test]
fn the_embedded_default_lets_only_servicea_call_serviceb() {
    let config = embedded_default();
    let expected_from = vec![Caller::ServiceAccount(WorkloadIdentity {
        namespace: "demo".into(),
        service_account: "servicea".into(),
    })];
    for version in ["serviceb-v1", "serviceb-v2"] {
        let authz = authorization(&config, version).expect("an authorization");
        assert_eq!(authz.default_action, AuthzAction::Deny, "{version}");
        assert_eq!(authz.rules.len(), 1, "{version}");
        let rule = &authz.rules[0];
        assert_eq!(rule.action, AuthzAction::Allow);
        assert_eq!(rule.from, expected_from);
        assert_eq!(
            rule.to,
            [
                path(StringMatch::Prefix("/demo.ServiceB/".into()), None),
                path(StringMatch::Prefix("/hello".into()), None),
            ]
        );
    }
    assert_eq!(authorization(&config, "serviceb"), None);
}
