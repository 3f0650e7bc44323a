//! Authorization (gRFC A41): RBAC HTTP filters in a server's connection manager.
//!
//! An [`Authorization`] becomes at most two `envoy.filters.http.rbac` filters, each of which
//! must let a call through: first one with action DENY holding the DENY rules (when there are
//! any), then, when the default is to deny, one with action ALLOW holding the ALLOW rules, so a
//! call matching none of them is denied. When the default is to allow, ALLOW rules change
//! nothing and stay off the wire; decoding then gives back an authorization without them, which
//! decides every call the same way.
//!
//! A rule is a policy named after it: its callers are principals (`authenticated.principal_name`
//! for a SPIFFE ID, `authenticated {}` for any mTLS caller, `any` when it names none) and its
//! requests are permissions (`and_rules` of `url_path`, the `:method` header and the other
//! headers; `any` when it names none). Policy names must be unique within a filter, so a
//! repeated rule name gets a `#<index>` suffix.

use envoy_types::pb::envoy::config::rbac::v3::{
    self as rbac, Policy, permission, principal, rbac::Action,
};
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, header_matcher::HeaderMatchSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpFilter, http_filter,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    PathMatcher, StringMatcher, path_matcher, string_matcher::MatchPattern,
};

use super::route::{header_matcher, string_matcher};
use super::{stable_map, to_any};
use crate::model::{Authorization, AuthzAction, AuthzRule, Permission, Principal};

/// The name of the filter holding the DENY rules.
pub(super) const DENY_FILTER: &str = "envoy.filters.http.rbac/deny";
/// The name of the filter holding the ALLOW rules.
pub(super) const ALLOW_FILTER: &str = "envoy.filters.http.rbac/allow";

/// The RBAC filters enforcing `authz`, in order (none when it allows every call).
pub(super) fn http_filters(authz: &Authorization) -> Vec<HttpFilter> {
    let of = |action: AuthzAction| authz.rules.iter().filter(move |r| r.action == action);
    let mut filters = Vec::new();
    if of(AuthzAction::Deny).next().is_some() {
        filters.push(rbac_filter(
            DENY_FILTER,
            Action::Deny,
            of(AuthzAction::Deny),
        ));
    }
    if authz.default_action == AuthzAction::Deny {
        filters.push(rbac_filter(
            ALLOW_FILTER,
            Action::Allow,
            of(AuthzAction::Allow),
        ));
    }
    filters
}

fn rbac_filter<'a>(
    name: &str,
    action: Action,
    rules: impl Iterator<Item = &'a AuthzRule>,
) -> HttpFilter {
    let mut policies = stable_map([]);
    for (i, rule) in rules.enumerate() {
        let mut name = rule.name.clone();
        let mut suffix = i;
        while policies.contains_key(&name) {
            name = format!("{}#{suffix}", rule.name);
            suffix += 1;
        }
        policies.insert(name, policy(rule));
    }
    let config = Rbac {
        rules: Some(rbac::Rbac {
            action: action as i32,
            policies,
            ..Default::default()
        }),
        ..Default::default()
    };
    HttpFilter {
        name: name.into(),
        config_type: Some(http_filter::ConfigType::TypedConfig(to_any(&config))),
        ..Default::default()
    }
}

fn policy(rule: &AuthzRule) -> Policy {
    let principals = if rule.from.is_empty() {
        vec![any_principal()]
    } else {
        rule.from.iter().map(principal).collect()
    };
    let permissions = if rule.to.is_empty() {
        vec![rbac::Permission {
            rule: Some(permission::Rule::Any(true)),
        }]
    } else {
        rule.to.iter().map(permission).collect()
    };
    Policy {
        permissions,
        principals,
        ..Default::default()
    }
}

fn any_principal() -> rbac::Principal {
    rbac::Principal {
        identifier: Some(principal::Identifier::Any(true)),
    }
}

fn principal(p: &Principal) -> rbac::Principal {
    let principal_name = match p {
        Principal::SpiffeId(m) => Some(string_matcher(m)),
        Principal::Authenticated => None,
    };
    rbac::Principal {
        identifier: Some(principal::Identifier::Authenticated(
            principal::Authenticated { principal_name },
        )),
    }
}

/// A permission: all of its conditions, or `any` when it has none.
fn permission(p: &Permission) -> rbac::Permission {
    let rule = |rule| rbac::Permission { rule: Some(rule) };
    let mut conditions = Vec::new();
    if let Some(path) = &p.path {
        conditions.push(rule(permission::Rule::UrlPath(PathMatcher {
            rule: Some(path_matcher::Rule::Path(string_matcher(path))),
        })));
    }
    if let Some(method) = &p.method {
        conditions.push(rule(permission::Rule::Header(HeaderMatcher {
            name: ":method".into(),
            header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(method.clone())),
                ignore_case: false,
            })),
            ..Default::default()
        })));
    }
    conditions.extend(
        p.headers
            .iter()
            .map(|h| rule(permission::Rule::Header(header_matcher(h)))),
    );
    if conditions.is_empty() {
        return rule(permission::Rule::Any(true));
    }
    rule(permission::Rule::AndRules(permission::Set {
        rules: conditions,
    }))
}

#[cfg(test)]
mod tests {
    use envoy_types::pb::google::protobuf::Any;
    use prost::Message;

    use super::*;
    use crate::model::StringMatch;
    use crate::xds::type_url;

    fn rules_of(filter: &HttpFilter) -> rbac::Rbac {
        let Some(http_filter::ConfigType::TypedConfig(Any { type_url, value })) =
            &filter.config_type
        else {
            panic!("no typed_config: {filter:?}");
        };
        assert_eq!(type_url, type_url::HTTP_RBAC);
        Rbac::decode(value.as_slice()).unwrap().rules.unwrap()
    }

    fn rule(name: &str, action: AuthzAction, from: Vec<Principal>) -> AuthzRule {
        AuthzRule {
            name: name.into(),
            action,
            from,
            to: vec![],
        }
    }

    #[test]
    fn deny_filter_then_allow_filter_when_the_default_denies() {
        let authz = Authorization {
            rules: vec![
                rule("ok", AuthzAction::Allow, vec![Principal::Authenticated]),
                rule("bad", AuthzAction::Deny, vec![]),
            ],
            default_action: AuthzAction::Deny,
        };
        let [deny, allow] = http_filters(&authz).try_into().unwrap();
        assert_eq!(
            (deny.name.as_str(), allow.name.as_str()),
            (DENY_FILTER, ALLOW_FILTER)
        );
        let deny = rules_of(&deny);
        assert_eq!(deny.action, Action::Deny as i32);
        let bad = &deny.policies["bad"];
        assert_eq!(bad.principals, [any_principal()]);
        assert_eq!(bad.permissions[0].rule, Some(permission::Rule::Any(true)));
        let allow = rules_of(&allow);
        assert_eq!(allow.action, Action::Allow as i32);
        assert_eq!(
            allow.policies["ok"].principals[0].identifier,
            Some(principal::Identifier::Authenticated(
                principal::Authenticated {
                    principal_name: None
                }
            ))
        );
    }

    #[test]
    fn allow_rules_under_a_default_allow_stay_off_the_wire() {
        let mut authz = Authorization {
            rules: vec![rule("ok", AuthzAction::Allow, vec![])],
            default_action: AuthzAction::Allow,
        };
        assert!(http_filters(&authz).is_empty());
        // Denying by default with no ALLOW rule still needs the (empty) ALLOW filter.
        authz.rules.clear();
        authz.default_action = AuthzAction::Deny;
        let [allow] = http_filters(&authz).try_into().unwrap();
        assert!(rules_of(&allow).policies.is_empty());
    }

    #[test]
    fn repeated_rule_names_stay_distinct_policies() {
        let authz = Authorization {
            rules: vec![
                rule("r", AuthzAction::Deny, vec![]),
                rule("r", AuthzAction::Deny, vec![Principal::Authenticated]),
            ],
            default_action: AuthzAction::Allow,
        };
        let [deny] = http_filters(&authz).try_into().unwrap();
        let mut names: Vec<_> = rules_of(&deny).policies.into_keys().collect();
        names.sort();
        assert_eq!(names, ["r", "r#1"]);
    }

    #[test]
    fn equal_authorizations_encode_to_equal_bytes() {
        let authz = || Authorization {
            rules: (0..16)
                .map(|i| rule(&format!("deny-{i}"), AuthzAction::Deny, vec![]))
                .chain((0..16).map(|i| rule(&format!("allow-{i}"), AuthzAction::Allow, vec![])))
                .collect(),
            default_action: AuthzAction::Deny,
        };
        let bytes = || {
            http_filters(&authz())
                .iter()
                .map(Message::encode_to_vec)
                .collect::<Vec<_>>()
        };
        let first = bytes();
        for _ in 0..20 {
            assert_eq!(bytes(), first);
        }
    }

    #[test]
    fn permission_conditions_are_and_rules() {
        let p = Permission {
            path: Some(StringMatch::Prefix("/demo.ServiceB/".into())),
            method: Some("POST".into()),
            headers: vec![],
        };
        let Some(permission::Rule::AndRules(set)) = permission(&p).rule else {
            panic!("not and_rules");
        };
        assert!(matches!(
            set.rules[0].rule,
            Some(permission::Rule::UrlPath(_))
        ));
        let Some(permission::Rule::Header(method)) = &set.rules[1].rule else {
            panic!("no :method header");
        };
        assert_eq!(method.name, ":method");
        assert_eq!(
            permission(&Permission::default()).rule,
            Some(permission::Rule::Any(true))
        );
    }
}
