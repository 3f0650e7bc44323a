//! Inbound policies in the terms of the wire: callers become SPIFFE ID matches of the mesh's
//! trust domain, and the policies of the Services one address serves become one.
//!
//! **Several Services at one address.** A server serves every Service that has its address as
//! an endpoint, and takes one authorization and one rate limit. Their AuthorizationPolicies are
//! merged: every DENY rule of each (a call any of them denies is denied), every ALLOW rule of
//! each, and the default is DENY if any of them says DENY. A policy targeting several of those
//! Services counts once. A Service without a policy adds nothing: the others' rules still
//! apply. Of several RateLimitPolicies, the one with the lowest rate (then the smaller burst)
//! applies: each promised its Service at most that many requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesh_core::model::{
    Authorization, AuthzAction, AuthzRule, LocalRateLimit, Principal, StringMatch,
};
use spiffe::TrustDomain;

use crate::config::{AuthorizationConfig, Caller, MeshConfig, namespace_prefix};

/// The authorization `config` describes, with callers in `trust_domain`.
pub(crate) fn authorization(
    config: &AuthorizationConfig,
    trust_domain: &TrustDomain,
) -> Authorization {
    let rules = config
        .rules
        .iter()
        .map(|rule| AuthzRule {
            name: rule.name.clone(),
            action: rule.action,
            from: rule
                .from
                .iter()
                .map(|c| principal(c, trust_domain))
                .collect(),
            to: rule.to.clone(),
        })
        .collect();
    Authorization {
        rules,
        default_action: config.default_action,
    }
}

fn principal(caller: &Caller, trust_domain: &TrustDomain) -> Principal {
    match caller {
        Caller::ServiceAccount(identity) => {
            Principal::SpiffeId(StringMatch::Exact(identity.spiffe_id(trust_domain)))
        }
        Caller::Namespace(ns) => {
            Principal::SpiffeId(StringMatch::Prefix(namespace_prefix(trust_domain, ns)))
        }
        Caller::SpiffeId(matcher) => Principal::SpiffeId(matcher.clone()),
        Caller::Authenticated => Principal::Authenticated,
    }
}

/// The policies of one address, by policy name, as one (see the module docs); `None` without
/// any.
pub(crate) fn merge(policies: &BTreeMap<String, Arc<Authorization>>) -> Option<Authorization> {
    let mut merged: Option<Authorization> = None;
    for policy in policies.values() {
        match &mut merged {
            None => merged = Some(Authorization::clone(policy)),
            Some(merged) => {
                merged.rules.extend(policy.rules.iter().cloned());
                if policy.default_action == AuthzAction::Deny {
                    merged.default_action = AuthzAction::Deny;
                }
            }
        }
    }
    merged
}

/// The lower of two rate limits: the lower rate, then the smaller burst.
pub(crate) fn lower(a: LocalRateLimit, b: LocalRateLimit) -> LocalRateLimit {
    // tokens_per_fill / fill_interval, compared by cross-multiplying.
    let rate = |l: &LocalRateLimit, other: &LocalRateLimit| {
        u128::from(l.tokens_per_fill) * other.fill_interval.as_nanos()
    };
    let key = |l: &LocalRateLimit, other: &LocalRateLimit| (rate(l, other), l.max_tokens);
    if key(&b, &a) < key(&a, &b) { b } else { a }
}

/// The SPIFFE IDs, exact or prefix, that AuthorizationPolicies of `config` name in another
/// trust domain than `trust_domain`, with their policy: no caller can prove them, as the CA
/// issues identities of its own trust domain only.
pub(crate) fn foreign_ids(
    config: &MeshConfig,
    trust_domain: &TrustDomain,
) -> Vec<(String, String)> {
    let own = format!("{}/", trust_domain.id_string());
    let mut found = Vec::new();
    for policy in config
        .services
        .values()
        .filter_map(|s| s.authorization.as_ref())
    {
        for caller in policy.rules.iter().flat_map(|r| &r.from) {
            let id = match caller {
                Caller::SpiffeId(StringMatch::Exact(id) | StringMatch::Prefix(id)) => id,
                _ => continue,
            };
            let entry = (policy.policy.clone(), id.clone());
            if !id.starts_with(&own) && !found.contains(&entry) {
                found.push(entry);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mesh_core::model::Permission;

    use super::*;
    use crate::config::{AuthzRuleConfig, WorkloadIdentity};

    fn td() -> TrustDomain {
        TrustDomain::new("example.org").unwrap()
    }

    fn rule(name: &str, action: AuthzAction, from: Vec<Caller>) -> AuthzRuleConfig {
        AuthzRuleConfig {
            name: name.into(),
            action,
            from,
            to: vec![Permission::default()],
        }
    }

    #[test]
    fn callers_become_spiffe_ids_of_the_trust_domain() {
        let config = AuthorizationConfig {
            policy: "demo/p".into(),
            rules: vec![rule(
                "demo/p/r",
                AuthzAction::Allow,
                vec![
                    Caller::ServiceAccount(WorkloadIdentity {
                        namespace: "demo".into(),
                        service_account: "servicea".into(),
                    }),
                    Caller::Namespace("ops".into()),
                    Caller::SpiffeId(StringMatch::Suffix("/sa/x".into())),
                    Caller::Authenticated,
                ],
            )],
            default_action: AuthzAction::Deny,
        };
        let authz = authorization(&config, &td());
        assert_eq!(authz.default_action, AuthzAction::Deny);
        assert_eq!(authz.rules[0].name, "demo/p/r");
        assert_eq!(
            authz.rules[0].from,
            [
                Principal::SpiffeId(StringMatch::Exact(
                    "spiffe://example.org/ns/demo/sa/servicea".into()
                )),
                Principal::SpiffeId(StringMatch::Prefix(
                    "spiffe://example.org/ns/ops/sa/".into()
                )),
                Principal::SpiffeId(StringMatch::Suffix("/sa/x".into())),
                Principal::Authenticated,
            ]
        );
    }

    #[test]
    fn merged_policies_keep_every_rule_and_deny_by_default_if_one_does() {
        let deny_some = AuthorizationConfig {
            policy: "demo/a".into(),
            rules: vec![rule("demo/a/r", AuthzAction::Deny, vec![])],
            default_action: AuthzAction::Allow,
        };
        let allow_some = AuthorizationConfig {
            policy: "demo/b".into(),
            rules: vec![rule("demo/b/r", AuthzAction::Allow, vec![])],
            default_action: AuthzAction::Deny,
        };
        let mut policies = BTreeMap::new();
        assert_eq!(merge(&policies), None);
        policies.insert("demo/a".into(), Arc::new(authorization(&deny_some, &td())));
        assert_eq!(merge(&policies).unwrap().default_action, AuthzAction::Allow);
        policies.insert("demo/b".into(), Arc::new(authorization(&allow_some, &td())));
        let merged = merge(&policies).unwrap();
        assert_eq!(merged.default_action, AuthzAction::Deny);
        let names: Vec<&str> = merged.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["demo/a/r", "demo/b/r"]);
    }

    #[test]
    fn the_lower_rate_wins_then_the_smaller_burst() {
        let limit = |max_tokens, tokens_per_fill, ms| LocalRateLimit {
            max_tokens,
            tokens_per_fill,
            fill_interval: Duration::from_millis(ms),
        };
        let hundred = limit(10, 5, 50); // 100/s
        let thirty = limit(50, 3, 100); // 30/s
        assert_eq!(lower(hundred, thirty), thirty);
        assert_eq!(lower(thirty, hundred), thirty);
        let small_burst = limit(5, 5, 50);
        assert_eq!(lower(hundred, small_burst), small_burst);
        assert_eq!(lower(small_burst, hundred), small_burst);
    }

    #[test]
    fn ids_of_other_trust_domains_are_found() {
        let yaml = "\
apiVersion: v1
kind: Service
metadata: {name: b, namespace: demo}
spec: {ports: [{port: 80}]}
---
apiVersion: mesh.dev/v1alpha1
kind: AuthorizationPolicy
metadata: {name: p, namespace: demo}
spec:
  targetRefs: [{kind: Service, name: b}]
  rules:
  - action: ALLOW
    from:
    - spiffeId: {exact: spiffe://example.org/ns/demo/sa/a}
    - spiffeId: {exact: spiffe://other.org/ns/demo/sa/a}
    - spiffeId: {prefix: spiffe://example.org.evil/}
    - spiffeId: {suffix: /sa/a}
    - serviceAccount: a
";
        let config = crate::config::load_documents(&[("p.yaml".into(), yaml.into())]).unwrap();
        let found = foreign_ids(&config, &td());
        let ids: Vec<&str> = found.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "spiffe://other.org/ns/demo/sa/a",
                "spiffe://example.org.evil/"
            ]
        );
        assert_eq!(found[0].0, "demo/p");
    }
}
