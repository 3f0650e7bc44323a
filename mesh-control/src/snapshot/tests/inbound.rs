//! AuthorizationPolicies and RateLimitPolicies reach the server listeners of the addresses that
//! serve their Services, in the trust domain of the build, and read back the same.

use std::time::Duration;

use envoy_types::pb::envoy::config::listener::v3::Listener;
use mesh_core::model::{
    self, Authorization, AuthzAction, AuthzRule, LocalRateLimit, Permission, Principal,
    ServerListener, StringMatch,
};
use mesh_core::xds::type_url;
use spiffe::TrustDomain;

use super::{decode, registered};
use crate::config::{embedded_default, load_documents};
use crate::snapshot::{BuildSettings, Snapshot};

/// Services `a` and `b` (port 50051) of namespace `demo`, then `policies`.
fn config(policies: &str) -> crate::config::MeshConfig {
    let services = "\
apiVersion: v1
kind: Service
metadata: {name: a, namespace: demo}
spec: {ports: [{port: 50051, appProtocol: grpc}]}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: demo}
spec: {ports: [{port: 50051, appProtocol: grpc}]}
";
    let sources = [
        ("services.yaml".to_string(), services.to_string()),
        ("policies.yaml".to_string(), policies.to_string()),
    ];
    load_documents(&sources).unwrap()
}

const POLICIES: &str = "\
apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: callers, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: a}]
  rules:
  - {name: no-admin, action: DENY, to: [{path: {prefix: /admin/}}]}
  - name: reads
    action: ALLOW
    from: [{serviceAccount: servicea}, {namespace: ops}]
    to: [{grpc: {service: demo.ServiceB, method: Get}}, {path: {exact: /hello}, methods: [GET]}]
---
apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: no-robots, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: b}]
  rules: [{name: robots, action: DENY, from: [{serviceAccount: robot}]}]
---
apiVersion: mesh.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: fast, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: a}]
  requestsPerSecond: 100
---
apiVersion: mesh.dev/v1alpha1
kind: RateLimitPolicy
metadata: {name: slow, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: b}]
  requestsPerSecond: 10
  burst: 20
";

fn settings() -> BuildSettings {
    BuildSettings::new(TrustDomain::new("example.org").unwrap())
}

/// The server listener of `address`, decoded.
fn server_listener(snapshot: &Snapshot, address: &str) -> ServerListener {
    let name = format!("{}{address}", type_url::SERVER_LISTENER_PREFIX);
    let proto: Listener = decode(snapshot, type_url::LISTENER, &name);
    match mesh_core::xds::decode::listener(&proto).unwrap() {
        model::Listener::Server(listener) => listener,
        other => panic!("not a server listener: {other:?}"),
    }
}

/// What an authorization decides, in a form that the wire keeps: the DENY rules and, when the
/// default is to deny, the ALLOW rules (under a default of ALLOW they change nothing), each
/// kind sorted by name.
fn semantics(authz: &Authorization) -> (AuthzAction, Vec<AuthzRule>) {
    let mut rules: Vec<AuthzRule> = authz
        .rules
        .iter()
        .filter(|r| r.action == AuthzAction::Deny || authz.default_action == AuthzAction::Deny)
        .cloned()
        .collect();
    rules.sort_by(|a, b| {
        (a.action == AuthzAction::Allow, &a.name).cmp(&(b.action == AuthzAction::Allow, &b.name))
    });
    (authz.default_action, rules)
}

fn id(account: &str) -> Principal {
    Principal::SpiffeId(StringMatch::Exact(format!(
        "spiffe://example.org/ns/demo/sa/{account}"
    )))
}

fn no_admin() -> AuthzRule {
    AuthzRule {
        name: "demo/callers/no-admin".into(),
        action: AuthzAction::Deny,
        from: vec![],
        to: vec![Permission {
            path: Some(StringMatch::Prefix("/admin/".into())),
            ..Permission::default()
        }],
    }
}

fn reads() -> AuthzRule {
    AuthzRule {
        name: "demo/callers/reads".into(),
        action: AuthzAction::Allow,
        from: vec![
            id("servicea"),
            Principal::SpiffeId(StringMatch::Prefix(
                "spiffe://example.org/ns/ops/sa/".into(),
            )),
        ],
        to: vec![
            Permission {
                path: Some(StringMatch::Exact("/demo.ServiceB/Get".into())),
                ..Permission::default()
            },
            Permission {
                path: Some(StringMatch::Exact("/hello".into())),
                method: Some("GET".into()),
                headers: vec![],
            },
        ],
    }
}

fn robots() -> AuthzRule {
    AuthzRule {
        name: "demo/no-robots/robots".into(),
        action: AuthzAction::Deny,
        from: vec![id("robot")],
        to: vec![],
    }
}

#[test]
fn policies_reach_the_server_listeners_of_their_services() {
    let registered = registered(&[
        ("a.demo:50051", "127.0.0.1:7"),
        ("b.demo:50051", "127.0.0.1:8"),
    ]);
    let snapshot = Snapshot::build(&config(POLICIES), &registered, &settings());

    let a = server_listener(&snapshot, "127.0.0.1:7");
    let expected = Authorization {
        rules: vec![no_admin(), reads()],
        default_action: AuthzAction::Deny,
    };
    let authz = a.authorization.expect("an authorization on a's server");
    assert_eq!(semantics(&authz), semantics(&expected));
    let hundred = LocalRateLimit {
        max_tokens: 10,
        tokens_per_fill: 5,
        fill_interval: Duration::from_millis(50),
    };
    assert_eq!(a.rate_limit, Some(hundred));

    let b = server_listener(&snapshot, "127.0.0.1:8");
    let expected = Authorization {
        rules: vec![robots()],
        default_action: AuthzAction::Allow,
    };
    assert_eq!(semantics(&b.authorization.unwrap()), semantics(&expected));
    assert_eq!(b.rate_limit.unwrap().max_tokens, 20);

    // An address no Service has: no policy.
    let other = server_listener(&snapshot, "127.0.0.1:9");
    assert_eq!((other.authorization, other.rate_limit), (None, None));
}

#[test]
fn an_address_serving_two_services_merges_their_policies() {
    let registered = registered(&[
        ("a.demo:50051", "127.0.0.1:7"),
        ("b.demo:50051", "127.0.0.1:7"),
    ]);
    let snapshot = Snapshot::build(&config(POLICIES), &registered, &settings());
    let listener = server_listener(&snapshot, "127.0.0.1:7");
    // Every DENY rule, every ALLOW rule, and DENY by default as one of them says so.
    let expected = Authorization {
        rules: vec![no_admin(), reads(), robots()],
        default_action: AuthzAction::Deny,
    };
    assert_eq!(
        semantics(&listener.authorization.unwrap()),
        semantics(&expected)
    );
    // The lower rate: 10 per second.
    let ten = LocalRateLimit {
        max_tokens: 20,
        tokens_per_fill: 1,
        fill_interval: Duration::from_millis(100),
    };
    assert_eq!(listener.rate_limit, Some(ten));
}

#[test]
fn the_demo_lets_only_servicea_call_serviceb() {
    // A replica of each version, and one address serving both: the policy counts once.
    let registered = registered(&[
        ("serviceb-v1.demo:50051", "127.0.0.1:7"),
        ("serviceb-v2.demo:50051", "127.0.0.1:8"),
        ("serviceb-v1.demo:50051", "127.0.0.1:9"),
        ("serviceb-v2.demo:50051", "127.0.0.1:9"),
    ]);
    let snapshot = Snapshot::build(&embedded_default(), &registered, &BuildSettings::default());
    let servicea = Principal::SpiffeId(StringMatch::Exact(
        "spiffe://cluster.local/ns/demo/sa/servicea".into(),
    ));
    for address in ["127.0.0.1:7", "127.0.0.1:8", "127.0.0.1:9"] {
        let authz = server_listener(&snapshot, address)
            .authorization
            .unwrap_or_else(|| panic!("no authorization at {address}"));
        assert_eq!(authz.default_action, AuthzAction::Deny, "{address}");
        assert_eq!(authz.rules.len(), 1, "{address}: {authz:?}");
        let rule = &authz.rules[0];
        assert_eq!(rule.name, "demo/serviceb-callers/servicea-calls");
        assert_eq!(
            (rule.action, &rule.from[..]),
            (AuthzAction::Allow, &[servicea.clone()][..])
        );
        let paths: Vec<_> = rule.to.iter().map(|p| p.path.clone()).collect();
        assert_eq!(
            paths,
            [
                Some(StringMatch::Prefix("/demo.ServiceB/".into())),
                Some(StringMatch::Prefix("/hello".into())),
            ]
        );
    }
}
