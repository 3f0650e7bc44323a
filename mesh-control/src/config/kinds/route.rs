//! What `HTTPRoute` and `GRPCRoute` share: parents, rules, backends and header matches.
//!
//! In the mesh (GAMMA), a route's parent is a Service: `parentRefs` names it with `group: ""`
//! and `kind: Service`, and the route then decides where requests *to that Service* go.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::http_route::{HttpRetry, HttpTimeouts};

/// `spec` of an HTTPRoute (`M` = [`super::http_route::HttpMatch`]) or a GRPCRoute.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    bound(deserialize = "M: Deserialize<'de>")
)]
pub(crate) struct RouteSpec<M> {
    #[serde(default)]
    pub(crate) parent_refs: Vec<Spanned<ParentRef>>,
    /// GAMMA routes ignore hostnames (the parent Service is the host); accepted and ignored.
    #[serde(rename = "hostnames")]
    pub(crate) _hostnames: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) rules: Vec<Spanned<Rule<M>>>,
}

/// One entry of `spec.rules`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    bound(deserialize = "M: Deserialize<'de>")
)]
pub(crate) struct Rule<M> {
    #[serde(rename = "name")]
    pub(crate) _name: Option<IgnoredAny>,
    #[serde(default)]
    pub(crate) matches: Vec<Spanned<M>>,
    #[serde(default)]
    pub(crate) backend_refs: Vec<Spanned<BackendRef>>,
    /// Not supported yet: refused with a clear error rather than silently ignored.
    pub(crate) filters: Option<Spanned<IgnoredAny>>,
    /// HTTPRoute only (GEP-1742); a GRPCRoute rule with it is refused.
    pub(crate) timeouts: Option<Spanned<HttpTimeouts>>,
    /// HTTPRoute only (GEP-1731); a GRPCRoute rule with it is refused.
    pub(crate) retry: Option<Spanned<HttpRetry>>,
}

/// One entry of `spec.parentRefs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ParentRef {
    pub(crate) group: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) namespace: Option<Spanned<String>>,
    pub(crate) name: Spanned<String>,
    pub(crate) section_name: Option<Spanned<String>>,
    pub(crate) port: Option<Spanned<i64>>,
}

/// One entry of `rules[].backendRefs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BackendRef {
    pub(crate) group: Option<String>,
    pub(crate) kind: Option<String>,
    pub(crate) namespace: Option<Spanned<String>>,
    pub(crate) name: Spanned<String>,
    pub(crate) port: Option<Spanned<i64>>,
    /// Read wide, so that a negative weight gets our own error.
    pub(crate) weight: Option<Spanned<i64>>,
    /// Not supported yet: refused with a clear error.
    pub(crate) filters: Option<Spanned<IgnoredAny>>,
}

/// One entry of `matches[].headers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderMatch {
    #[serde(rename = "type", default)]
    pub(crate) match_type: MatchType,
    pub(crate) name: Spanned<String>,
    pub(crate) value: Spanned<String>,
}

/// How a header value (or a gRPC service or method name) is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) enum MatchType {
    /// Equal to the value.
    #[default]
    Exact,
    /// The whole value matches the RE2 pattern.
    RegularExpression,
}
