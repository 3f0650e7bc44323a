//! AuthorizationPolicies: which calls the servers of the Services they target accept.
//!
//! Each rule is checked on its own (see `authz_match`) and named
//! `<namespace>/<policy>/<rule>`, `rule-<index>` when it has no name; names are unique within a
//! policy, so the xDS RBAC policies made of them are too. A policy without `defaultAction`
//! denies what no rule matches if one of its rules allows, and allows it otherwise.
//!
//! Rules that can never change an outcome are refused, since they say something the policy
//! does not do: an empty `from` or `to` list (matches nothing), an ALLOW rule under
//! `defaultAction: ALLOW` (what it allows is allowed anyway), and a DENY rule under
//! `defaultAction: DENY` when no rule allows (everything is denied anyway). A Service takes
//! one AuthorizationPolicy at most.

use std::collections::BTreeMap;

use mesh_core::model::AuthzAction;
use serde_saphyr::Spanned;

use super::authz_match::{caller, permissions};
use super::fields::Fields;
use super::targets::{self, Targetable};
use crate::config::error::ConfigError;
use crate::config::kinds::authorization_policy::{AuthorizationPolicySpec, Rule};
use crate::config::kinds::meta::{NameRule, check_name};
use crate::config::kinds::{Body, Parsed};
use crate::config::{AuthorizationConfig, AuthzRuleConfig, ServiceConfig, ServiceRef};

/// What an AuthorizationPolicy may target.
const TARGETABLE: Targetable = Targetable {
    policy: "AuthorizationPolicy",
    groups: &["", "core"],
    holder: "a Service",
    kinds: &["Service"],
    example: "{kind: Service, name: serviceb-v1}",
};

/// Sets the `authorization` of `services` from the AuthorizationPolicies of `objects`;
/// mistakes go to `errors`.
pub(crate) fn apply(
    objects: &[Parsed],
    services: &mut BTreeMap<ServiceRef, ServiceConfig>,
    errors: &mut Vec<ConfigError>,
) {
    let mut claimed = BTreeMap::new();
    for object in objects {
        let Some(Body::AuthorizationPolicy(spec)) = &object.body else {
            continue;
        };
        let mut fields = Fields::new(&object.origin, errors);
        let mark = fields.mark();
        let exists =
            |_: &str, name: &str| services.contains_key(&ServiceRef::new(&object.namespace, name));
        let targets = targets::targets(
            &mut fields,
            &TARGETABLE,
            &spec.target_refs,
            &object.namespace,
            exists,
        );
        let policy = policy(&mut fields, object, spec);
        if !fields.clean_since(mark) {
            continue;
        }
        let ns = &object.namespace;
        let origin = &object.origin;
        let claim = |o| o;
        for service in targets::claim(
            &mut fields,
            &mut claimed,
            &TARGETABLE,
            targets,
            ns,
            origin,
            claim,
        ) {
            if let Some(config) = services.get_mut(&service) {
                config.authorization = Some(policy.clone());
            }
        }
    }
}

/// The resolved policy; its mistakes are reported through `fields`.
fn policy(
    fields: &mut Fields<'_>,
    object: &Parsed,
    spec: &AuthorizationPolicySpec,
) -> AuthorizationConfig {
    let name = format!("{}/{}", object.namespace, object.name);
    let default = spec
        .default_action
        .as_ref()
        .and_then(|a| action(fields, a, "spec.defaultAction"));
    // Each valid rule with its index and text.
    let mut rules: Vec<(AuthzRuleConfig, usize, &Spanned<Rule>)> = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, written) in spec.rules.iter().enumerate() {
        let field = format!("spec.rules[{i}]");
        let rule_name = rule_name(fields, written, i, &field, &mut names);
        let full_name = rule_name.map(|rule_name| format!("{name}/{rule_name}"));
        if let Some(rule) = rule(fields, &object.namespace, written, &field, full_name) {
            rules.push((rule, i, written));
        }
    }
    // As written, so that a mistake in an ALLOW rule does not make the DENY rules look useless.
    let allows = spec.rules.iter().any(|r| r.value.action.value == "ALLOW");
    for (rule, i, written) in &rules {
        let useless = match (default, rule.action) {
            (Some(AuthzAction::Allow), AuthzAction::Allow) => Some(
                "ALLOW changes nothing under `defaultAction: ALLOW`: what no rule denies is \
                 allowed anyway; set `defaultAction: DENY` to allow only what the ALLOW rules say, \
                 or remove the rule",
            ),
            (Some(AuthzAction::Deny), AuthzAction::Deny) if !allows => Some(
                "DENY changes nothing under `defaultAction: DENY` when no rule allows: every call \
                 is denied anyway; add the ALLOW rules, or remove this one",
            ),
            _ => None,
        };
        if let Some(message) = useless {
            let at = written.value.action.referenced;
            fields.error(at, &format!("spec.rules[{i}].action"), message);
        }
    }
    let fallback = if allows {
        AuthzAction::Deny
    } else {
        AuthzAction::Allow
    };
    AuthorizationConfig {
        policy: name,
        rules: rules.into_iter().map(|(rule, ..)| rule).collect(),
        default_action: default.unwrap_or(fallback),
    }
}

/// The name of rule `index`, checked and unique in the policy; `None` after reporting.
fn rule_name(
    fields: &mut Fields<'_>,
    rule: &Spanned<Rule>,
    index: usize,
    field: &str,
    names: &mut BTreeMap<String, usize>,
) -> Option<String> {
    let (name, at) = match &rule.value.name {
        Some(name) => (name.value.clone(), name.referenced),
        None => (format!("rule-{index}"), rule.referenced),
    };
    if let Err(problem) = check_name(&name, NameRule::Subdomain) {
        fields.error(
            at,
            &format!("{field}.name"),
            format!("{problem} (a rule name)"),
        );
        return None;
    }
    if let Some(first) = names.insert(name.clone(), index) {
        let message = format!(
            "{name:?} is also the name of spec.rules[{first}]; give each rule its own name \
             (a rule without one is named rule-<index>)"
        );
        fields.error(at, &format!("{field}.name"), message);
        return None;
    }
    Some(name)
}

/// A rule named `name` (`None`: its name was refused); `None` after reporting its mistakes.
fn rule(
    fields: &mut Fields<'_>,
    namespace: &str,
    written: &Spanned<Rule>,
    field: &str,
    name: Option<String>,
) -> Option<AuthzRuleConfig> {
    let r = &written.value;
    let mark = fields.mark();
    let action = action(fields, &r.action, &format!("{field}.action"));
    let mut from = Vec::new();
    if let Some(list) = &r.from {
        if list.value.is_empty() {
            let message = "is empty, so the rule matches no caller; leave out `from` to match \
                           every caller, or name the callers";
            fields.error(list.referenced, &format!("{field}.from"), message);
        }
        for (i, source) in list.value.iter().enumerate() {
            from.extend(caller(
                fields,
                namespace,
                source,
                &format!("{field}.from[{i}]"),
            ));
        }
    }
    let mut to = Vec::new();
    if let Some(list) = &r.to {
        if list.value.is_empty() {
            let message = "is empty, so the rule matches no request; leave out `to` to match \
                           every request, or name the requests";
            fields.error(list.referenced, &format!("{field}.to"), message);
        }
        for (i, operation) in list.value.iter().enumerate() {
            let found = permissions(fields, operation, &format!("{field}.to[{i}]"));
            to.extend(found.into_iter().flatten());
        }
    }
    let action = action.filter(|_| fields.clean_since(mark))?;
    Some(AuthzRuleConfig {
        name: name?,
        action,
        from,
        to,
    })
}

/// An action, ALLOW or DENY; `None` after reporting.
fn action(fields: &mut Fields<'_>, value: &Spanned<String>, field: &str) -> Option<AuthzAction> {
    match value.value.as_str() {
        "ALLOW" => Some(AuthzAction::Allow),
        "DENY" => Some(AuthzAction::Deny),
        other => {
            let message = format!("{other:?} is not an action; use ALLOW or DENY");
            fields.error(value.referenced, field, message);
            None
        }
    }
}
