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

/// The path match of a method match; `None` after pushing its mistakes (or when it is empty).
fn method_path(
    m: &MethodMatch,
    origin: &Origin,
    field: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<(PathRank, PathMatch)> {
    let mut part = |name: &str| -> Result<Option<String>, ()> {
        let spanned = if name == "service" {
            &m.service
        } else {
            &m.method
        };
        let Some(value) = spanned else {
            return Ok(None);
        };
        let problem = match m.match_type {
            MatchType::Exact if value.value.is_empty() || value.value.contains('/') => {
                Some(format!(
                    "{:?} is not a gRPC {name} name; write it without '/', such as {}",
                    value.value,
                    if name == "service" {
                        "helloworld.Greeter"
                    } else {
                        "SayHello"
                    }
                ))
            }
            MatchType::Exact => None,
            MatchType::RegularExpression => pattern(&value.value).err(),
        };
        match problem {
            Some(message) => {
                errors.push(origin.error(value.referenced, format!("{field}.{name}"), message));
                Err(())
            }
            None => Ok(Some(value.value.clone())),
        }
    };
    let (service, method) = (part("service"), part("method"));
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
