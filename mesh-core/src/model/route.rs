//! Route tables: which requests go to which clusters.
//!
//! A [`RouteConfig`] holds virtual hosts; the client picks the virtual host whose domains match
//! the target's authority, then the first [`Route`] whose [`RouteMatch`] matches the request, and
//! sends the request to one of the route's clusters, chosen by weight.

use std::borrow::Cow;

use http::{HeaderMap, Method};

use super::{Pattern, RoutePolicy, StringMatch};

/// A RouteConfiguration resource.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RouteConfig {
    /// The resource name.
    pub name: String,
    /// The virtual hosts, each for a set of domains.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// A set of routes for the requests whose authority matches one of `domains`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct VirtualHost {
    /// A name for logs and config dumps.
    pub name: String,
    /// Domains as in xDS: exact (`serviceb.demo:50051`), `*.suffix`, `prefix.*` or `*`.
    pub domains: Vec<String>,
    /// Routes in order; the first match wins.
    pub routes: Vec<Route>,
}

/// One route: a match and what to do with a request that matches.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Route {
    /// A name for logs and config dumps (may be empty).
    pub name: String,
    /// Which requests this route takes.
    pub matcher: RouteMatch,
    /// What happens to them.
    pub action: RouteAction,
    /// Timeout, retries, faults and hashing for them.
    pub policy: RoutePolicy,
}

/// Which requests a route takes: all conditions must hold.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RouteMatch {
    /// The condition on the request path (`:path` without the query).
    pub path: PathMatch,
    /// Whether path matching is case sensitive (xDS default: true).
    pub case_sensitive: bool,
    /// Conditions on headers; `:method` is matched as a header, as in xDS.
    pub headers: Vec<HeaderMatch>,
}

/// The condition on the request path.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    /// The path starts with this string (`""` and `"/"` take everything).
    Prefix(String),
    /// The path equals this string.
    Exact(String),
    /// The whole path matches this pattern.
    Regex(Pattern),
}

/// A condition on one request header.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HeaderMatch {
    /// The header name, lower case (`:method` for the method).
    pub name: String,
    /// How its value is matched.
    pub matcher: StringMatch,
    /// Take the requests that do *not* match instead.
    pub invert: bool,
}

impl HeaderMatch {
    /// Whether a request with this `method` and these `headers` satisfies the condition.
    ///
    /// The semantics are gRPC's (A28), which follow Envoy's: `:method` is matched as a header
    /// holding the method; a header with several values is matched against the values joined
    /// with `,`; a missing (or non-text) header never matches, inverted or not, except for
    /// [`StringMatch::Present`], whose inversion matches exactly when the header is missing.
    pub fn matches(&self, method: &Method, headers: &HeaderMap) -> bool {
        match (&self.matcher, header_value(&self.name, method, headers)) {
            (StringMatch::Present, value) => value.is_some() != self.invert,
            (_, None) => false,
            (string_match, Some(value)) => string_match.matches(&value) != self.invert,
        }
    }
}

/// The value of header `name` as matchers see it: `:method` from the method, several values
/// joined with `,`; `None` when missing or not text.
fn header_value<'a>(
    name: &str,
    method: &'a Method,
    headers: &'a HeaderMap,
) -> Option<Cow<'a, str>> {
    if name == ":method" {
        return Some(Cow::Borrowed(method.as_str()));
    }
    let mut values = headers.get_all(name).iter().map(|v| v.to_str().ok());
    let mut joined = Cow::Borrowed(values.next()??);
    for value in values {
        let joined = joined.to_mut();
        joined.push(',');
        joined.push_str(value?);
    }
    Some(joined)
}

/// What a route does with a request.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteAction {
    /// Send it to one of these clusters, picked by weight (weights add up to more than zero).
    Forward(Vec<WeightedCluster>),
    /// Serve it locally: the action of server-side (inbound) routes.
    NonForwarding,
}

/// A cluster and its share of a route's traffic.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WeightedCluster {
    /// The Cluster resource name.
    pub cluster: String,
    /// Its weight, relative to the route's other clusters.
    pub weight: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, matcher: StringMatch, invert: bool) -> HeaderMatch {
        HeaderMatch {
            name: name.into(),
            matcher,
            invert,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn several_values_are_joined_with_commas() {
        let map = headers(&[("x-tag", "a"), ("x-tag", "b"), ("x-tag", "c")]);
        let get = Method::GET;
        assert!(header("x-tag", StringMatch::Exact("a,b,c".into()), false).matches(&get, &map));
        assert!(!header("x-tag", StringMatch::Exact("a".into()), false).matches(&get, &map));
        let one = headers(&[("x-tag", "a")]);
        assert!(header("x-tag", StringMatch::Exact("a".into()), false).matches(&get, &one));
    }

    #[test]
    fn method_is_a_header() {
        let m = header(":method", StringMatch::Exact("POST".into()), false);
        assert!(m.matches(&Method::POST, &HeaderMap::new()));
        assert!(!m.matches(&Method::GET, &HeaderMap::new()));
    }

    #[test]
    fn invert_flips_a_present_header_but_a_missing_one_never_matches() {
        let map = headers(&[("x-v", "1")]);
        let get = Method::GET;
        assert!(header("x-v", StringMatch::Exact("2".into()), true).matches(&get, &map));
        assert!(!header("x-v", StringMatch::Exact("1".into()), true).matches(&get, &map));
        assert!(
            !header("x-v", StringMatch::Exact("2".into()), true).matches(&get, &HeaderMap::new())
        );
    }

    #[test]
    fn non_text_values_count_as_missing() {
        let mut map = HeaderMap::new();
        map.insert("x-v", http::HeaderValue::from_bytes(b"\xff").unwrap());
        let get = Method::GET;
        assert!(!header("x-v", StringMatch::Prefix(String::new()), false).matches(&get, &map));
        assert!(!header("x-v", StringMatch::Present, false).matches(&get, &map));
        assert!(header("x-v", StringMatch::Present, true).matches(&get, &map));
    }

    #[test]
    fn present_and_its_inversion() {
        let map = headers(&[("x-v", "")]);
        let none = HeaderMap::new();
        let get = Method::GET;
        assert!(header("x-v", StringMatch::Present, false).matches(&get, &map));
        assert!(!header("x-v", StringMatch::Present, false).matches(&get, &none));
        assert!(header("x-v", StringMatch::Present, true).matches(&get, &none));
        assert!(!header("x-v", StringMatch::Present, true).matches(&get, &map));
    }
}
