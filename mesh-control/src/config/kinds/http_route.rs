//! The `gateway.networking.k8s.io/v1` `HTTPRoute` kind: how HTTP requests are matched.
//!
//! The shared parts (parents, rules, backends) are in [`super::route`]; this is the match.

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
