//! `GRPCRouteMatch` in model terms.
//!
//! A gRPC call is a request to the path `/<service>/<method>`, so a method match is a path match:
//!
//! | match | path |
//! |---|---|
//! | `service` and `method` (Exact) | exact `/service/method` |
//! | `service` only (Exact) | prefix `/service/` |
//! | `method` only (Exact) | regular expression `/[^/]+/method` |
//! | `RegularExpression` | regular expression `/(service)/(method)`, a missing part being `[^/]+` |
//! | no `method` | every call (prefix `/`) |

use mesh_core::model::{PathMatch, Pattern};

use super::matching::{Candidate, MatchSpec, PathRank, headers, pattern};
use crate::config::error::ConfigError;
use crate::config::kinds::Origin;
use crate::config::kinds::grpc_route::{GrpcMatch, MethodMatch};
use crate::config::kinds::route::MatchType;

impl MatchSpec for GrpcMatch {
    fn candidate(
        &self,
        origin: &Origin,
        field: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Candidate> {
        let path = match &self.method {
            None => Some((PathRank::prefix("/"), PathMatch::Prefix("/".into()))),
            Some(method) => {
                let path = method_path(&method.value, origin, &format!("{field}.method"), errors);
                if path.is_none() && method.value.service.is_none() && method.value.method.is_none()
                {
                    let message =
                        "names neither service nor method; set one or both, or leave out `method`";
                    errors.push(origin.error(
                        method.referenced,
                        format!("{field}.method"),
                        message,
                    ));
                }
                path
            }
        };
        let headers = headers(origin, field, &self.headers, errors);
        let ((rank, path), headers) = (path?, headers?);
        Some(Candidate::new(rank, vec![path], headers))
    }
}

/// One part of a gRPC method path, `/<service>/<method>`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum GrpcPart {
    /// The service, such as `helloworld.Greeter`.
    Service,
    /// The method, such as `SayHello`.
    Method,
}

impl GrpcPart {
    /// Its field name: `service` or `method`.
    pub(crate) fn field(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::Method => "method",
        }
    }
}

/// Checks that `name` can be the `part` of a gRPC method path: not empty, without '/' (the
/// separator) or spaces (no gRPC name has any); the error says what to do.
pub(crate) fn check_grpc_name(name: &str, part: GrpcPart) -> Result<(), String> {
    if name.is_empty() || name.contains(['/', ' ']) {
        let example = match part {
            GrpcPart::Service => "helloworld.Greeter",
            GrpcPart::Method => "SayHello",
        };
        let what = part.field();
        return Err(format!(
            "{name:?} is not a gRPC {what} name; write it without '/' or spaces, such as {example}"
        ));
    }
    Ok(())
}

/// The path match of a method match; `None` after pushing its mistakes (or when it is empty).
fn method_path(
    m: &MethodMatch,
    origin: &Origin,
    field: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<(PathRank, PathMatch)> {
    let mut part = |what: GrpcPart| -> Result<Option<String>, ()> {
        let spanned = match what {
            GrpcPart::Service => &m.service,
            GrpcPart::Method => &m.method,
        };
        let Some(value) = spanned else {
            return Ok(None);
        };
        let checked = match m.match_type {
            MatchType::Exact => check_grpc_name(&value.value, what),
            MatchType::RegularExpression => pattern(&value.value).map(drop),
        };
        match checked {
            Err(message) => {
                let field = format!("{field}.{}", what.field());
                errors.push(origin.error(value.referenced, field, message));
                Err(())
            }
            Ok(()) => Ok(Some(value.value.clone())),
        }
    };
    let (service, method) = (part(GrpcPart::Service), part(GrpcPart::Method));
    let (service, method) = (service.ok()?, method.ok()?);
    let regex = |source: String| {
        let pattern = Pattern::new(&source).ok()?; // its parts compiled alone, so it compiles
        Some((PathRank::regex(&source), PathMatch::Regex(pattern)))
    };
    match (m.match_type, service, method) {
        (_, None, None) => None,
        (MatchType::Exact, Some(s), Some(m)) => {
            Some((PathRank::Exact, PathMatch::Exact(format!("/{s}/{m}"))))
        }
        (MatchType::Exact, Some(s), None) => {
            let prefix = format!("/{s}/");
            Some((PathRank::prefix(&prefix), PathMatch::Prefix(prefix)))
        }
        (MatchType::Exact, None, Some(m)) => regex(format!("/[^/]+/{}", regex::escape(&m))),
        (MatchType::RegularExpression, s, m) => {
            let any = || "[^/]+".to_string();
            regex(format!(
                "/(?:{})/(?:{})",
                s.unwrap_or_else(any),
                m.unwrap_or_else(any)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_names_have_no_separator_or_space() {
        assert_eq!(
            check_grpc_name("helloworld.Greeter", GrpcPart::Service),
            Ok(())
        );
        for bad in ["", "a/b", "a b"] {
            let message = check_grpc_name(bad, GrpcPart::Method).unwrap_err();
            assert!(message.contains("is not a gRPC method name"), "{message}");
        }
    }
}
