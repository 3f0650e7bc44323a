//! Route tables: which requests go to which clusters.
//!
//! A [`RouteConfig`] holds virtual hosts; the client picks the virtual host whose domains match
//! the target's authority, then the first [`Route`] whose [`RouteMatch`] matches the request, and
//! sends the request to one of the route's clusters, chosen by weight.

use super::{Pattern, RoutePolicy, StringMatch};

/// A RouteConfiguration resource.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteConfig {
    /// The resource name.
    pub name: String,
    /// The virtual hosts, each for a set of domains.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// A set of routes for the requests whose authority matches one of `domains`.
#[derive(Clone, Debug, PartialEq)]
pub struct VirtualHost {
    /// A name for logs and config dumps.
    pub name: String,
    /// Domains as in xDS: exact (`serviceb.demo:50051`), `*.suffix`, `prefix.*` or `*`.
    pub domains: Vec<String>,
    /// Routes in order; the first match wins.
    pub routes: Vec<Route>,
}

/// One route: a match and what to do with a request that matches.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
pub struct RouteMatch {
    /// The condition on the request path (`:path` without the query).
    pub path: PathMatch,
    /// Whether path matching is case sensitive (xDS default: true).
    pub case_sensitive: bool,
    /// Conditions on headers; `:method` is matched as a header, as in xDS.
    pub headers: Vec<HeaderMatch>,
}

/// The condition on the request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// The path starts with this string (`""` and `"/"` take everything).
    Prefix(String),
    /// The path equals this string.
    Exact(String),
    /// The whole path matches this pattern.
    Regex(Pattern),
}

/// A condition on one request header.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderMatch {
    /// The header name, lower case (`:method` for the method).
    pub name: String,
    /// How its value is matched.
    pub matcher: StringMatch,
    /// Take the requests that do *not* match instead.
    pub invert: bool,
}

/// What a route does with a request.
#[derive(Clone, Debug, PartialEq)]
pub enum RouteAction {
    /// Send it to one of these clusters, picked by weight (weights add up to more than zero).
    Forward(Vec<WeightedCluster>),
    /// Serve it locally: the action of server-side (inbound) routes.
    NonForwarding,
}

/// A cluster and its share of a route's traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedCluster {
    /// The Cluster resource name.
    pub cluster: String,
    /// Its weight, relative to the route's other clusters.
    pub weight: u32,
}
