//! Route matches in the domain model's terms, and the order in which they are tried.
//!
//! A Gateway API match becomes one or more model [`RouteMatch`]es plus a [`Precedence`]. All the
//! routes attached to a Service port are sorted by precedence, most specific first, because the
//! model (like xDS) takes the first route that matches. The order follows Gateway API:
//!
//! 1. the path: an `Exact` path, then a `RegularExpression` (longer pattern first), then a
//!    `PathPrefix` (longer prefix first). Gateway API leaves the place of regular expressions
//!    open; we put them before prefixes, as Envoy Gateway does, so that a catch-all `PathPrefix /`
//!    does not hide them. A gRPC method match counts as its path: service and method is exact,
//!    service alone is the prefix `/service/`, anything else is a regular expression;
//! 2. a match on the HTTP method before one without;
//! 3. more header matches before fewer;
//! 4. then, as files carry no creation time, the route's namespace and name, its kind, the rule
//!    index and the match index.

use std::cmp::Reverse;

use mesh_core::model::{HeaderMatch, PathMatch, Pattern, RouteMatch, StringMatch};

use crate::config::error::ConfigError;
use crate::config::kinds::Origin;
use crate::config::kinds::route::{self, MatchType};

/// How specific a match is: smaller sorts first and wins.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Precedence {
    path: PathRank,
    without_method: bool,
    headers: Reverse<usize>,
}

/// How specific a path match is: smaller sorts first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PathRank {
    /// An exact path.
    Exact,
    /// A regular expression of this length.
    Regex(Reverse<usize>),
    /// A prefix of this length.
    Prefix(Reverse<usize>),
}

impl PathRank {
    /// The rank of a regular expression `pattern`.
    pub(crate) fn regex(pattern: &str) -> Self {
        PathRank::Regex(Reverse(pattern.len()))
    }

    /// The rank of a prefix `prefix`.
    pub(crate) fn prefix(prefix: &str) -> Self {
        PathRank::Prefix(Reverse(prefix.len()))
    }
}

/// One Gateway API match, in model terms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Candidate {
    /// Where it sorts among the port's routes.
    pub(crate) precedence: Precedence,
    /// The model matches that together take the same requests (one route each).
    pub(crate) matchers: Vec<RouteMatch>,
}

impl Candidate {
    /// A candidate with the path matches `paths`, all with the same `headers`.
    pub(crate) fn new(rank: PathRank, paths: Vec<PathMatch>, headers: Vec<HeaderMatch>) -> Self {
        let without_method = !headers.iter().any(|h| h.name == ":method");
        let precedence = Precedence {
            path: rank,
            without_method,
            headers: Reverse(headers.len() - usize::from(!without_method)),
        };
        let matchers = paths
            .into_iter()
            .map(|path| RouteMatch {
                path,
                case_sensitive: true,
                headers: headers.clone(),
            })
            .collect();
        Self {
            precedence,
            matchers,
        }
    }

    /// The candidate that takes every request: the match of a rule without `matches`.
    pub(crate) fn everything() -> Self {
        Self::new(
            PathRank::prefix("/"),
            vec![PathMatch::Prefix("/".into())],
            Vec::new(),
        )
    }
}

/// A kind's match type (`HTTPRouteMatch`, `GRPCRouteMatch`).
pub(crate) trait MatchSpec {
    /// The match in model terms; its mistakes go to `errors`, with `field` as the path prefix.
    fn candidate(
        &self,
        origin: &Origin,
        field: &str,
        errors: &mut Vec<ConfigError>,
    ) -> Option<Candidate>;
}

/// Compiles a regular expression from the config; the error says what to do.
pub(crate) fn pattern(source: &str) -> Result<Pattern, String> {
    Pattern::new(source).map_err(|e| {
        // The regex crate explains over several lines, ending with `error: <what>`.
        let text = e.to_string();
        let problem = match text.lines().last() {
            Some(last) if text.contains('\n') => {
                format!(
                    "invalid regular expression {source:?}: {}",
                    last.trim().trim_start_matches("error: ")
                )
            }
            _ => text,
        };
        format!("{problem}; fix the pattern (RE2 syntax, matching the whole value)")
    })
}

/// The header matches of a match; mistakes go to `errors`.
pub(crate) fn headers(
    origin: &Origin,
    field: &str,
    matches: &[serde_saphyr::Spanned<route::HeaderMatch>],
    errors: &mut Vec<ConfigError>,
) -> Option<Vec<HeaderMatch>> {
    let before = errors.len();
    let mut headers = Vec::new();
    for (i, header) in matches.iter().enumerate() {
        let field = format!("{field}.headers[{i}]");
        let name = &header.value.name;
        if let Err(message) = check_header_name(&name.value) {
            errors.push(origin.error(name.referenced, format!("{field}.name"), message));
            continue;
        }
        let value = &header.value.value;
        let matcher = match header.value.match_type {
            MatchType::Exact => StringMatch::Exact(value.value.clone()),
            MatchType::RegularExpression => match pattern(&value.value) {
                Ok(p) => StringMatch::Regex(p),
                Err(message) => {
                    errors.push(origin.error(value.referenced, format!("{field}.value"), message));
                    continue;
                }
            },
        };
        headers.push(HeaderMatch {
            name: name.value.to_ascii_lowercase(),
            matcher,
            invert: false,
        });
    }
    (errors.len() == before).then_some(headers)
}

/// Checks that `name` is an HTTP header name (an RFC 9110 token); the error says what to do.
pub(crate) fn check_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(format!(
            "{name:?} is not a valid header name; use letters, digits and '-'"
        ));
    }
    Ok(())
}

/// Whether `b` may appear in an HTTP header name (an RFC 9110 token).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(path: PathRank, headers: Vec<HeaderMatch>) -> Precedence {
        Candidate::new(path, Vec::new(), headers).precedence
    }

    fn header(name: &str) -> HeaderMatch {
        HeaderMatch {
            name: name.into(),
            matcher: StringMatch::Present,
            invert: false,
        }
    }

    #[test]
    fn exact_then_regex_then_longer_prefix() {
        let mut ranks = [
            rank(PathRank::prefix("/"), Vec::new()),
            rank(PathRank::prefix("/hello"), Vec::new()),
            rank(PathRank::regex("/h.*"), Vec::new()),
            rank(PathRank::Exact, Vec::new()),
        ];
        ranks.sort();
        assert_eq!(ranks[0].path, PathRank::Exact);
        assert_eq!(ranks[1].path, PathRank::regex("/h.*"));
        assert_eq!(ranks[2].path, PathRank::prefix("/hello"));
        assert_eq!(ranks[3].path, PathRank::prefix("/"));
    }

    #[test]
    fn method_then_more_headers_win_at_the_same_path() {
        let path = PathRank::prefix("/");
        let method = rank(path, vec![header(":method")]);
        let two = rank(path, vec![header("a"), header("b")]);
        let one = rank(path, vec![header("a")]);
        let mut ranks = [one.clone(), two.clone(), method.clone()];
        ranks.sort();
        assert_eq!(ranks, [method, two, one]);
    }

    #[test]
    fn pattern_errors_fit_on_one_line() {
        let message = pattern("a(").unwrap_err();
        assert_eq!(
            message,
            "invalid regular expression \"a(\": unclosed group; fix the pattern (RE2 syntax, matching the whole value)"
        );
    }

    #[test]
    fn header_names_are_checked() {
        assert!(is_token_byte(b'-') && !is_token_byte(b':') && !is_token_byte(b' '));
    }
}
