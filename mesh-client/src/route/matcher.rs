//! Route matching: whether a request satisfies a route's path and header conditions.
//!
//! The semantics are gRPC's (A28), which follow Envoy's:
//! - the path is the request path without the query; prefix and exact matches honour
//!   `case_sensitive`, a regex always matches the whole path as written;
//! - header conditions are mesh-core's
//!   [`HeaderMatch::matches`](mesh_core::model::HeaderMatch::matches): a header with several
//!   values is matched against the values joined with `,`, `:method` as a header holding the
//!   request method, and a missing header never matches, whether inverted or not, except for
//!   the "present" matcher, whose inversion matches exactly when the header is missing.

use http::{HeaderMap, Method};
use mesh_core::model::{PathMatch, RouteMatch};

/// What of a request the matchers look at.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestHead<'a> {
    /// The method.
    pub(crate) method: &'a Method,
    /// The path, without the query.
    pub(crate) path: &'a str,
    /// The headers.
    pub(crate) headers: &'a HeaderMap,
}

impl<'a> RequestHead<'a> {
    /// The head of `request`.
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            path: request.uri().path(),
            headers: request.headers(),
        }
    }
}

/// Whether `request` satisfies every condition of `matcher`.
pub(crate) fn matches(matcher: &RouteMatch, request: &RequestHead<'_>) -> bool {
    path_matches(&matcher.path, matcher.case_sensitive, request.path)
        && matcher
            .headers
            .iter()
            .all(|h| h.matches(request.method, request.headers))
}

fn path_matches(matcher: &PathMatch, case_sensitive: bool, path: &str) -> bool {
    match matcher {
        PathMatch::Prefix(prefix) => match path.as_bytes().get(..prefix.len()) {
            Some(head) if case_sensitive => head == prefix.as_bytes(),
            Some(head) => head.eq_ignore_ascii_case(prefix.as_bytes()),
            None => false,
        },
        PathMatch::Exact(exact) if case_sensitive => path == exact,
        PathMatch::Exact(exact) => path.eq_ignore_ascii_case(exact),
        PathMatch::Regex(pattern) => pattern.is_match(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh_core::model::{HeaderMatch, Pattern, StringMatch};

    fn path_only(path: PathMatch, case_sensitive: bool) -> RouteMatch {
        RouteMatch {
            path,
            case_sensitive,
            headers: Vec::new(),
        }
    }

    fn with_header(name: &str, matcher: StringMatch, invert: bool) -> RouteMatch {
        RouteMatch {
            path: PathMatch::Prefix(String::new()),
            case_sensitive: true,
            headers: vec![HeaderMatch {
                name: name.into(),
                matcher,
                invert,
            }],
        }
    }

    fn check(matcher: &RouteMatch, request: &http::Request<()>) -> bool {
        matches(matcher, &RequestHead::of(request))
    }

    fn get(uri: &str) -> http::Request<()> {
        http::Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn prefix_paths_honour_case_sensitivity() {
        let sensitive = path_only(PathMatch::Prefix("/demo.Greeter/".into()), true);
        let insensitive = path_only(PathMatch::Prefix("/demo.Greeter/".into()), false);
        assert!(check(&sensitive, &get("/demo.Greeter/Hello?x=1")));
        assert!(!check(&sensitive, &get("/demo.greeter/Hello")));
        assert!(check(&insensitive, &get("/demo.greeter/Hello")));
        assert!(!check(&insensitive, &get("/demo")));
        assert!(check(
            &path_only(PathMatch::Prefix(String::new()), true),
            &get("/")
        ));
    }

    #[test]
    fn exact_paths_ignore_the_query() {
        let exact = path_only(PathMatch::Exact("/a/b".into()), true);
        assert!(check(&exact, &get("/a/b?q=1")));
        assert!(!check(&exact, &get("/a/b/c")));
        assert!(!check(&exact, &get("/A/b")));
        assert!(check(
            &path_only(PathMatch::Exact("/a/b".into()), false),
            &get("/A/B")
        ));
    }

    #[test]
    fn regex_paths_match_the_whole_path() {
        let regex = path_only(PathMatch::Regex(Pattern::new("/v[0-9]+/.*").unwrap()), true);
        assert!(check(&regex, &get("/v2/items")));
        assert!(!check(&regex, &get("/api/v2/items")));
    }

    #[test]
    fn header_values_are_joined_with_commas() {
        let request = http::Request::get("/")
            .header("x-tag", "a")
            .header("x-tag", "b")
            .body(())
            .unwrap();
        assert!(check(
            &with_header("x-tag", StringMatch::Exact("a,b".into()), false),
            &request
        ));
        assert!(!check(
            &with_header("x-tag", StringMatch::Exact("a".into()), false),
            &request
        ));
    }

    #[test]
    fn method_is_a_header() {
        let post = http::Request::post("/").body(()).unwrap();
        let m = with_header(":method", StringMatch::Exact("POST".into()), false);
        assert!(check(&m, &post));
        assert!(!check(&m, &get("/")));
    }

    #[test]
    fn invert_flips_a_present_header_but_a_missing_one_never_matches() {
        let request = http::Request::get("/").header("x-v", "1").body(()).unwrap();
        let inverted = with_header("x-v", StringMatch::Exact("2".into()), true);
        assert!(check(&inverted, &request));
        assert!(!check(
            &with_header("x-v", StringMatch::Exact("1".into()), true),
            &request
        ));
        assert!(!check(&inverted, &get("/")));
    }

    #[test]
    fn present_and_its_inversion() {
        let request = http::Request::get("/").header("x-v", "").body(()).unwrap();
        assert!(check(
            &with_header("x-v", StringMatch::Present, false),
            &request
        ));
        assert!(!check(
            &with_header("x-v", StringMatch::Present, false),
            &get("/")
        ));
        assert!(check(
            &with_header("x-v", StringMatch::Present, true),
            &get("/")
        ));
        assert!(!check(
            &with_header("x-v", StringMatch::Present, true),
            &request
        ));
    }

    #[test]
    fn all_conditions_must_hold() {
        let mut m = with_header("x-a", StringMatch::Present, false);
        m.headers.push(HeaderMatch {
            name: "x-b".into(),
            matcher: StringMatch::Prefix("v".into()),
            invert: false,
        });
        let both = http::Request::get("/")
            .header("x-a", "1")
            .header("x-b", "v2")
            .body(())
            .unwrap();
        let one = http::Request::get("/").header("x-a", "1").body(()).unwrap();
        assert!(check(&m, &both));
        assert!(!check(&m, &one));
    }
}
