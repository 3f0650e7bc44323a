//! JoinToken and TLSPolicy: the CA's credentials and the Services' mTLS modes.

use super::{assert_error, error_of, load};
use crate::config::{
    MeshConfig, ServiceRef, ServiceTls, TlsMode, WorkloadIdentity, embedded_default,
};

fn join_token(name: &str, token: &str, service_account: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\n\
         kind: JoinToken\n\
         metadata: {{name: {name}, namespace: demo}}\n\
         spec: {{token: \"{token}\", serviceAccount: {service_account}}}\n"
    )
}

/// A TLSPolicy `demo/<name>` with `spec` (a flow mapping's content).
fn policy(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: mesh.dev/v1alpha1\n\
         kind: TLSPolicy\n\
         metadata: {{name: {name}, namespace: demo}}\n\
         spec: {{{spec}}}\n"
    )
}

fn tls_of(config: &MeshConfig, service: &str) -> ServiceTls {
    config.services[&ServiceRef::new("demo", service)]
        .tls
        .clone()
}

fn tls(mode: TlsMode, service_accounts: &[&str]) -> ServiceTls {
    ServiceTls {
        mode,
        service_accounts: service_accounts.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn join_tokens_prove_a_service_account_of_their_namespace() {
    let yaml = [
        join_token("a", "dev-a", "servicea"),
        join_token("b", "dev-b", "serviceb"),
    ]
    .join("---\n");
    let config = load(&yaml).unwrap();
    assert_eq!(config.join_tokens.len(), 2);
    assert_eq!(
        config.join_tokens["dev-a"],
        WorkloadIdentity {
            namespace: "demo".into(),
            service_account: "servicea".into()
        }
    );
    assert_eq!(config.join_tokens["dev-b"].service_account, "serviceb");
}

#[test]
fn join_token_mistakes() {
    assert_error(
        &join_token("a", "", "servicea"),
        &["test.yaml:4: JoinToken demo/a: spec.token: is empty"],
    );
    assert_error(
        &join_token("a", "two words", "servicea"),
        &["test.yaml:4: JoinToken demo/a: spec.token: has spaces"],
    );
    assert_error(
        &join_token("a", "dev-a", "Service_A"),
        &[
            "spec.serviceAccount: \"Service_A\" is not a valid name",
            "service account",
        ],
    );
    assert_error(
        &join_token("a", "dev-a", "servicea").replace("serviceAccount", "serviceaccount"),
        &["test.yaml:", "JoinToken demo/a", "serviceaccount"],
    );
}

#[test]
fn a_token_held_twice_names_both_and_not_the_token() {
    let yaml = [
        join_token("a", "s3cret-token", "servicea"),
        join_token("b", "s3cret-token", "serviceb"),
    ]
    .join("---\n");
    let text = error_of(&yaml);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("test.yaml:9: JoinToken demo/b: spec.token: ")
            && text.contains("JoinToken demo/a at test.yaml:1"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn services_without_a_policy_are_permissive() {
    let config = load("").unwrap();
    assert_eq!(tls_of(&config, "web"), tls(TlsMode::Permissive, &[]));
}

#[test]
fn a_namespace_wide_policy_sets_every_service_and_a_targeted_one_beats_it() {
    let yaml = [
        policy("all", "mode: STRICT, serviceAccounts: [web]"),
        policy("v2", "targetRef: {kind: Service, name: v2}, mode: DISABLE"),
        "apiVersion: mesh.dev/v1alpha1\nkind: TLSPolicy\nmetadata: {name: x, namespace: other}\n\
         spec: {mode: DISABLE}\n"
            .to_string(),
    ]
    .join("---\n");
    let config = load(&yaml).unwrap();
    assert_eq!(tls_of(&config, "web"), tls(TlsMode::Strict, &["web"]));
    assert_eq!(tls_of(&config, "v1"), tls(TlsMode::Strict, &["web"]));
    assert_eq!(tls_of(&config, "v2"), tls(TlsMode::Disable, &[]));
    let yaml = policy(
        "v1",
        "targetRef: {group: '', kind: Service, name: v1}, mode: PERMISSIVE",
    );
    let config = load(&yaml).unwrap();
    assert_eq!(tls_of(&config, "v1"), tls(TlsMode::Permissive, &[]));
}

#[test]
fn tls_policy_mistakes() {
    assert_error(
        &policy("p", "mode: strict"),
        &["test.yaml:4: TLSPolicy demo/p: spec.mode: \"strict\" is not a mode; use STRICT"],
    );
    assert_error(
        &policy("p", "targetRef: {kind: Service, name: nope}, mode: STRICT"),
        &["spec.targetRef.name: Service demo/nope does not exist"],
    );
    assert_error(
        &policy(
            "p",
            "targetRef: {kind: Deployment, name: web}, mode: STRICT",
        ),
        &["spec.targetRef.kind: \"Deployment\": a TLSPolicy selects Services only"],
    );
    assert_error(
        &policy(
            "p",
            "targetRef: {group: apps, kind: Service, name: web}, mode: STRICT",
        ),
        &["spec.targetRef.group: \"apps\""],
    );
    assert_error(
        &policy("p", "mode: STRICT, serviceAccounts: [ok, Not-OK]"),
        &["spec.serviceAccounts[1]: \"Not-OK\" is not a valid name"],
    );
    assert_error(
        &policy("p", "mode: STRICT, peers: [a]"),
        &["TLSPolicy demo/p", "peers"],
    );
    assert_error(
        &policy("p", "targetRef: {name: web}, mode: STRICT"),
        &["TLSPolicy demo/p", "kind"],
    );
}

#[test]
fn two_policies_of_the_same_scope_name_both() {
    let yaml = [policy("a", "mode: STRICT"), policy("b", "mode: PERMISSIVE")].join("---\n");
    assert_error(
        &yaml,
        &[
            "test.yaml:6: TLSPolicy demo/b: spec: TLSPolicy demo/a at test.yaml:1 already sets \
             the mTLS mode of every Service of namespace demo",
        ],
    );
    let target = "targetRef: {kind: Service, name: web}";
    let yaml = [
        policy("a", &format!("{target}, mode: STRICT")),
        policy("b", &format!("{target}, mode: DISABLE")),
    ]
    .join("---\n");
    assert_error(
        &yaml,
        &[
            "TLSPolicy demo/b: spec.targetRef: TLSPolicy demo/a at test.yaml:1 already sets \
           the mTLS mode of Service demo/web",
        ],
    );
}

#[test]
fn the_embedded_default_has_dev_tokens_and_a_strict_demo() {
    let config = embedded_default();
    let accounts: Vec<_> = config
        .join_tokens
        .iter()
        .map(|(token, id)| format!("{token} -> {}/{}", id.namespace, id.service_account))
        .collect();
    assert_eq!(
        accounts,
        [
            "dev-servicea -> demo/servicea",
            "dev-serviceb -> demo/serviceb"
        ]
    );
    for service in config.services.values() {
        assert_eq!(
            service.tls,
            tls(TlsMode::Strict, &["serviceb"]),
            "{}",
            service.service
        );
    }
}
