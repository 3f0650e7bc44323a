//! One RBAC HTTP filter (`envoy.extensions.filters.http.rbac.v3.RBAC`, gRFC A41) to the rules
//! it enforces.
//!
//! A filter with action DENY refuses the calls its policies match; one with action ALLOW
//! refuses the calls they do not match. A filter without `rules`, or with action LOG, enforces
//! nothing, as in gRPC. The shadow rules and audit logging change no decision and are ignored;
//! the `matcher` API is not supported.
//!
//! A policy becomes a rule named after it. Its principals must be the caller kinds the model
//! knows: `any`, `authenticated` (with a `principal_name`, matched against the caller's
//! SPIFFE ID; without one, any mTLS caller), and `or_ids` of those. Its permissions must be
//! `any`, `url_path`, `header` (an exact `:method` is the method), `and_rules` of those, and
//! `or_rules` of them all. Anything else (addresses, ports, metadata, negations, CEL
//! conditions) is an error naming the field. Policies are read in name order, since the
//! protobuf map has none.

use envoy_types::pb::envoy::config::rbac::v3::{
    self as rbac, Policy, permission::Rule, principal::Identifier, rbac::Action,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac;
use envoy_types::pb::envoy::r#type::matcher::v3::path_matcher;
use envoy_types::pb::google::protobuf::Any;

use super::common::unpack;
use super::error::{Context, DecodeError};
use super::matcher;
use crate::model::{AuthzAction, AuthzRule, Permission, Principal, StringMatch};
use crate::xds::type_url;

/// What one RBAC filter enforces.
#[derive(Debug, PartialEq)]
pub(crate) enum RbacFilter {
    /// Nothing: no rules, or action LOG.
    Nothing,
    /// Calls matching one of these rules (all DENY) are refused.
    Deny(Vec<AuthzRule>),
    /// Calls matching none of these rules (all ALLOW) are refused.
    Allow(Vec<AuthzRule>),
}

/// Decodes the RBAC filter config `any` at `field`.
pub(crate) fn rbac_filter(
    ctx: Context<'_>,
    field: &str,
    any: &Any,
) -> Result<RbacFilter, DecodeError> {
    let config: Rbac = unpack(ctx, field, any, type_url::HTTP_RBAC, "RBAC")?;
    if config.matcher.is_some() {
        return Err(ctx.error(
            format!("{field}.matcher"),
            "is not supported; give the policies in `rules`",
        ));
    }
    let Some(rules) = &config.rules else {
        return Ok(RbacFilter::Nothing);
    };
    let field = format!("{field}.rules");
    let action = match Action::try_from(rules.action) {
        Ok(Action::Log) => return Ok(RbacFilter::Nothing),
        Ok(Action::Allow) => AuthzAction::Allow,
        Ok(Action::Deny) => AuthzAction::Deny,
        Err(_) => {
            return Err(ctx.error(
                format!("{field}.action"),
                format!("{} is not ALLOW, DENY or LOG", rules.action),
            ));
        }
    };
    let mut names: Vec<&String> = rules.policies.keys().collect();
    names.sort();
    let decoded = names
        .into_iter()
        .map(|name| {
            let at = format!("{field}.policies[{name:?}]");
            policy(ctx, &at, name, action, &rules.policies[name])
        })
        .collect::<Result<_, _>>()?;
    Ok(match action {
        AuthzAction::Allow => RbacFilter::Allow(decoded),
        AuthzAction::Deny => RbacFilter::Deny(decoded),
    })
}

fn policy(
    ctx: Context<'_>,
    field: &str,
    name: &str,
    action: AuthzAction,
    proto: &Policy,
) -> Result<AuthzRule, DecodeError> {
    if proto.condition.is_some() || proto.checked_condition.is_some() {
        return Err(ctx.error(
            format!("{field}.condition"),
            "CEL conditions are not supported; use principals and permissions",
        ));
    }
    let mut from = Vec::new();
    let mut everyone = nonempty(ctx, &format!("{field}.principals"), &proto.principals)?;
    for (i, p) in proto.principals.iter().enumerate() {
        everyone |= principal(ctx, &format!("{field}.principals[{i}]"), p, &mut from)?;
    }
    let mut to = Vec::new();
    let mut every_request = nonempty(ctx, &format!("{field}.permissions"), &proto.permissions)?;
    for (i, p) in proto.permissions.iter().enumerate() {
        every_request |= permission(ctx, &format!("{field}.permissions[{i}]"), p, &mut to)?;
    }
    Ok(AuthzRule {
        name: name.to_string(),
        action,
        from: if everyone { Vec::new() } else { from },
        to: if every_request { Vec::new() } else { to },
    })
}

/// A policy must list something (Envoy requires at least one of each); always `false`, to
/// start the "matches everything" flag.
fn nonempty<T>(ctx: Context<'_>, field: &str, list: &[T]) -> Result<bool, DecodeError> {
    if list.is_empty() {
        return Err(ctx.error(field, "is empty; use `any: true` to match everything"));
    }
    Ok(false)
}

/// `any: true` at `field`, which matches everything.
fn any_true(ctx: Context<'_>, field: &str, any: bool) -> Result<bool, DecodeError> {
    if !any {
        return Err(ctx.error(format!("{field}.any"), "must be true when set"));
    }
    Ok(true)
}

/// Adds the callers of the principal at `field` to `out`; `true` if it matches every caller.
fn principal(
    ctx: Context<'_>,
    field: &str,
    proto: &rbac::Principal,
    out: &mut Vec<Principal>,
) -> Result<bool, DecodeError> {
    match &proto.identifier {
        Some(Identifier::Any(any)) => any_true(ctx, field, *any),
        Some(Identifier::Authenticated(a)) => {
            out.push(match &a.principal_name {
                Some(m) => Principal::SpiffeId(matcher::string_match(
                    ctx,
                    &format!("{field}.authenticated.principal_name"),
                    m,
                )?),
                None => Principal::Authenticated,
            });
            Ok(false)
        }
        Some(Identifier::OrIds(set)) => {
            let mut everyone = false;
            for (i, p) in set.ids.iter().enumerate() {
                everyone |= principal(ctx, &format!("{field}.or_ids.ids[{i}]"), p, out)?;
            }
            Ok(everyone)
        }
        Some(other) => Err(ctx.error(
            format!("{field}.{}", principal_kind(other)),
            "is not supported; match callers by identity with any, authenticated or or_ids",
        )),
        None => Err(ctx.error(field, "has no identifier")),
    }
}

#[allow(deprecated)] // `source_ip` and `metadata` are deprecated, still to be named in errors
fn principal_kind(id: &Identifier) -> &'static str {
    match id {
        Identifier::AndIds(_) => "and_ids",
        Identifier::OrIds(_) => "or_ids",
        Identifier::Any(_) => "any",
        Identifier::Authenticated(_) => "authenticated",
        Identifier::SourceIp(_) => "source_ip",
        Identifier::DirectRemoteIp(_) => "direct_remote_ip",
        Identifier::RemoteIp(_) => "remote_ip",
        Identifier::Header(_) => "header",
        Identifier::UrlPath(_) => "url_path",
        Identifier::Metadata(_) => "metadata",
        Identifier::FilterState(_) => "filter_state",
        Identifier::NotId(_) => "not_id",
        Identifier::SourcedMetadata(_) => "sourced_metadata",
        Identifier::Custom(_) => "custom",
    }
}

/// Adds the requests of the permission at `field` to `out`; `true` if it matches every request.
fn permission(
    ctx: Context<'_>,
    field: &str,
    proto: &rbac::Permission,
    out: &mut Vec<Permission>,
) -> Result<bool, DecodeError> {
    match &proto.rule {
        Some(Rule::Any(any)) => any_true(ctx, field, *any),
        Some(Rule::OrRules(set)) => {
            let mut every = false;
            for (i, p) in set.rules.iter().enumerate() {
                every |= permission(ctx, &format!("{field}.or_rules.rules[{i}]"), p, out)?;
            }
            Ok(every)
        }
        _ => {
            let mut p = Permission::default();
            condition(ctx, field, proto, &mut p)?;
            out.push(p);
            Ok(false)
        }
    }
}

/// Adds the condition at `field` to `out`, all of whose conditions must hold.
fn condition(
    ctx: Context<'_>,
    field: &str,
    proto: &rbac::Permission,
    out: &mut Permission,
) -> Result<(), DecodeError> {
    match &proto.rule {
        Some(Rule::Any(any)) => any_true(ctx, field, *any).map(drop),
        Some(Rule::AndRules(set)) => {
            for (i, p) in set.rules.iter().enumerate() {
                condition(ctx, &format!("{field}.and_rules.rules[{i}]"), p, out)?;
            }
            Ok(())
        }
        Some(Rule::UrlPath(path)) => {
            let at = format!("{field}.url_path");
            let Some(path_matcher::Rule::Path(m)) = &path.rule else {
                return Err(ctx.error(at, "has no path"));
            };
            if out.path.is_some() {
                return Err(ctx.error(at, "is a second path condition; keep one"));
            }
            out.path = Some(matcher::string_match(ctx, &format!("{at}.path"), m)?);
            Ok(())
        }
        Some(Rule::Header(h)) => {
            let header = matcher::header(ctx, &format!("{field}.header"), h)?;
            match header.matcher {
                StringMatch::Exact(method)
                    if header.name == ":method" && !header.invert && out.method.is_none() =>
                {
                    out.method = Some(method);
                }
                _ => out.headers.push(header),
            }
            Ok(())
        }
        Some(Rule::OrRules(_)) => Err(ctx.error(
            format!("{field}.or_rules"),
            "inside and_rules is not supported; list the alternatives as separate permissions",
        )),
        Some(other) => Err(ctx.error(
            format!("{field}.{}", permission_kind(other)),
            "is not supported; match requests with any, url_path, header, and_rules or or_rules",
        )),
        None => Err(ctx.error(field, "has no rule")),
    }
}

#[allow(deprecated)] // `metadata` is deprecated, still to be named in errors
fn permission_kind(rule: &Rule) -> &'static str {
    match rule {
        Rule::AndRules(_) => "and_rules",
        Rule::OrRules(_) => "or_rules",
        Rule::Any(_) => "any",
        Rule::Header(_) => "header",
        Rule::UrlPath(_) => "url_path",
        Rule::DestinationIp(_) => "destination_ip",
        Rule::DestinationPort(_) => "destination_port",
        Rule::DestinationPortRange(_) => "destination_port_range",
        Rule::Metadata(_) => "metadata",
        Rule::NotRule(_) => "not_rule",
        Rule::RequestedServerName(_) => "requested_server_name",
        Rule::Matcher(_) => "matcher",
        Rule::UriTemplate(_) => "uri_template",
        Rule::SourcedMetadata(_) => "sourced_metadata",
    }
}

#[cfg(test)]
#[path = "authz_tests.rs"]
mod tests;
