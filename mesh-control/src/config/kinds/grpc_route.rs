//! The `gateway.networking.k8s.io/v1` `GRPCRoute` kind: how gRPC calls are matched.
//!
//! The shared parts (parents, rules, backends) are in [`super::route`]; this is the match. A gRPC
//! call is an HTTP/2 request to `/<service>/<method>`, so a method match is a path match.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::route::{HeaderMatch, MatchType};

/// One entry of `rules[].matches`: all of its conditions must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrpcMatch {
    pub(crate) method: Option<Spanned<MethodMatch>>,
    #[serde(default)]
    pub(crate) headers: Vec<Spanned<HeaderMatch>>,
}

/// `matches[].method`: the gRPC service and/or method.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MethodMatch {
    #[serde(rename = "type", default)]
    pub(crate) match_type: MatchType,
    pub(crate) service: Option<Spanned<String>>,
    pub(crate) method: Option<Spanned<String>>,
}
