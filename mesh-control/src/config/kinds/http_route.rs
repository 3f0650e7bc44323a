//! The `gateway.networking.k8s.io/v1` `HTTPRoute` kind: how HTTP requests are matched.
//!
//! The shared parts (parents, rules, backends) are in [`super::route`]; here are the match and
//! what only HTTPRoute rules have: `timeouts` and `retry`.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_saphyr::Spanned;

use super::route::HeaderMatch;

/// One entry of `rules[].matches`: all of its conditions must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HttpMatch {
    pub(crate) path: Option<Spanned<PathMatch>>,
    #[serde(default)]
    pub(crate) headers: Vec<Spanned<HeaderMatch>>,
    /// Not supported yet: refused with a clear error.
    pub(crate) query_params: Option<Spanned<IgnoredAny>>,
    pub(crate) method: Option<Spanned<String>>,
}

/// `matches[].path`; absent means `PathPrefix /`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PathMatch {
    #[serde(rename = "type", default)]
    pub(crate) path_type: PathType,
    pub(crate) value: Option<Spanned<String>>,
}

/// How the path is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub(crate) enum PathType {
    /// The path equals the value.
    Exact,
    /// The path's segments start with the value's segments (`/a` takes `/a` and `/a/b`, not `/ab`).
    #[default]
    PathPrefix,
    /// The whole path matches the RE2 pattern.
    RegularExpression,
}

/// `rules[].timeouts` (GEP-1742), as Gateway API durations such as `500ms` or `1m30s`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct HttpTimeouts {
    /// The bound on the whole request, retries included.
    pub(crate) request: Option<Spanned<String>>,
    /// The bound on one attempt; only with `retry`.
    pub(crate) backend_request: Option<Spanned<String>>,
}

/// `rules[].retry` (GEP-1731).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpRetry {
    /// The HTTP statuses retried (read wide, so a bad number gets our own error).
    #[serde(default)]
    pub(crate) codes: Vec<Spanned<i64>>,
    /// Retries after the first attempt.
    pub(crate) attempts: Option<Spanned<i64>>,
    /// The first pause between attempts, a Gateway API duration.
    pub(crate) backoff: Option<Spanned<String>>,
}
