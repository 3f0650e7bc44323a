//! Inbound policies: who may call a server, and how often.
//!
//! An [`Authorization`] is carried on the wire as xDS RBAC HTTP filters (gRFC A41), so a gRPC
//! xDS server enforces the same rules as mesh-server: first a DENY filter with the deny rules,
//! then, when the default is to deny, an ALLOW filter with the allow rules. A
//! [`LocalRateLimit`] is Envoy's local rate limit filter, marked optional so that gRPC servers,
//! which do not have it, skip it.

use std::time::Duration;

use super::{HeaderMatch, StringMatch};

/// Which calls a server accepts, by caller identity and by request.
///
/// A call matching a DENY rule is refused; otherwise a call matching an ALLOW rule is accepted;
/// otherwise `default_action` decides.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Authorization {
    /// The rules, DENY and ALLOW alike, in the order they were written.
    pub rules: Vec<AuthzRule>,
    /// What happens to a call no rule matches.
    pub default_action: AuthzAction,
}

/// What a rule does with the calls it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthzAction {
    /// Accept the call.
    Allow,
    /// Refuse it: PERMISSION_DENIED for gRPC, 403 for HTTP.
    Deny,
}

/// One rule: a call matches when it comes from one of `from` and asks for one of `to`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AuthzRule {
    /// A name for logs (`namespace/policy/rule-index` from mesh-control).
    pub name: String,
    /// What to do with a matching call.
    pub action: AuthzAction,
    /// Who: any of these callers; empty matches every caller, authenticated or not.
    pub from: Vec<Principal>,
    /// What: any of these requests; empty matches every request.
    pub to: Vec<Permission>,
}

/// A caller.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// A caller that proved a SPIFFE ID (over mTLS) matching this (RBAC
    /// `authenticated.principal_name`).
    SpiffeId(StringMatch),
    /// Any caller that proved an identity.
    Authenticated,
}

/// A request: all of its conditions must hold.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Permission {
    /// The request path (`/package.Service/Method` for gRPC); `None`: any.
    pub path: Option<StringMatch>,
    /// The HTTP method (`GET`, `POST`...); `None`: any.
    pub method: Option<String>,
    /// Conditions on request headers.
    pub headers: Vec<HeaderMatch>,
}

/// A token bucket bounding the requests a server accepts: it holds up to `max_tokens`, gains
/// `tokens_per_fill` every `fill_interval`, and each request takes one. A request finding it
/// empty is refused with RESOURCE_EXHAUSTED (gRPC) or 429 (HTTP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LocalRateLimit {
    /// The bucket's size: the largest burst.
    pub max_tokens: u32,
    /// Tokens added each interval.
    pub tokens_per_fill: u32,
    /// How often tokens are added.
    #[serde(serialize_with = "super::serde_text::duration")]
    pub fill_interval: Duration,
}
