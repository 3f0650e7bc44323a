//! `HTTPRouteMatch` in model terms.
//!
//! A `PathPrefix` matches whole path segments: `/hello` takes `/hello` and `/hello/x` but not
//! `/helloworld`, and a trailing `/` makes no difference. The model's prefix is a plain string
//! prefix, so a `PathPrefix /hello` becomes two model matches: `Exact /hello` and
//! `Prefix /hello/` (both cheap to evaluate, unlike a regular expression).
//! The HTTP method is a match on the `:method` header, as in xDS.

use mesh_core::model::{HeaderMatch, PathMatch, StringMatch};

use super::matching::{Candidate, MatchSpec, PathRank, headers, pattern};
use crate::config::error::ConfigError;
use crate::config::kinds::Origin;
use crate::config::kinds::http_route::{HttpMatch, PathType};

/// The methods Gateway API allows in a match.
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Checks that `method` is one of the HTTP methods Gateway API allows in a match; the error
/// lists them.
pub(crate) fn check_method(method: &str) -> Result<(), String> {
    if !METHODS.contains(&method) {
        let known = METHODS.join(", ");
        return Err(format!(
            "{method:?} is not an HTTP method; use one of {known}"
        ));
    }
    Ok(())
}

impl MatchSpec for HttpMatch {
    fn candidate(
        &self,
        origin: &Origin,
        field: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Candidate> {
        let before = errors.len();
        if let Some(query) = &self.query_params {
            let message = "matching on query parameters is not supported yet; match on path, headers or method";
            errors.push(origin.error(query.referenced, format!("{field}.queryParams"), message));
        }
        let path = path_match(self, origin, field, errors);
        let headers = headers(origin, field, &self.headers, errors);
        let method = self.method.as_ref().filter(|method| {
            let checked = check_method(&method.value);
            if let Err(message) = &checked {
                errors.push(origin.error(method.referenced, format!("{field}.method"), message));
            }
            checked.is_ok()
        });
        let ((rank, paths), mut headers) = (path?, headers?);
        if let Some(method) = method {
            let matcher = StringMatch::Exact(method.value.clone());
            headers.push(HeaderMatch {
                name: ":method".into(),
                matcher,
                invert: false,
            });
        }
        (errors.len() == before).then(|| Candidate::new(rank, paths, headers))
    }
}

/// The path matches of `m` and their rank.
fn path_match(
    m: &HttpMatch,
    origin: &Origin,
    field: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<(PathRank, Vec<PathMatch>)> {
    let Some(path) = &m.path else {
        return Some((PathRank::prefix("/"), vec![PathMatch::Prefix("/".into())]));
    };
    let (value, at) = match &path.value.value {
        Some(v) => (v.value.as_str(), v.referenced),
        None => ("/", path.referenced),
    };
    let field = format!("{field}.path.value");
    if path.value.path_type != PathType::RegularExpression && !value.starts_with('/') {
        errors.push(origin.error(
            at,
            field,
            format!("{value:?} does not start with '/'; write it as /{value}"),
        ));
        return None;
    }
    match path.value.path_type {
        PathType::Exact => Some((PathRank::Exact, vec![PathMatch::Exact(value.into())])),
        PathType::PathPrefix => {
            let trimmed = value.trim_end_matches('/');
            let paths = if trimmed.is_empty() {
                vec![PathMatch::Prefix("/".into())]
            } else {
                vec![
                    PathMatch::Exact(trimmed.into()),
                    PathMatch::Prefix(format!("{trimmed}/")),
                ]
            };
            Some((PathRank::prefix(value), paths))
        }
        PathType::RegularExpression => match pattern(value) {
            Ok(p) => Some((PathRank::regex(value), vec![PathMatch::Regex(p)])),
            Err(message) => {
                errors.push(origin.error(at, field, message));
                None
            }
        },
    }
}
