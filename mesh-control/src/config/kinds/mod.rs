//! The Kubernetes kinds the config understands, read from YAML documents.
//!
//! | apiVersion | kind | what it declares |
//! |---|---|---|
//! | `v1` | `Service` | a service and its ports |
//! | `discovery.k8s.io/v1` | `EndpointSlice` | static addresses of a Service |
//! | `gateway.networking.k8s.io/v1` | `HTTPRoute` | how HTTP requests to a Service are routed |
//! | `gateway.networking.k8s.io/v1` | `GRPCRoute` | how gRPC calls to a Service are routed |
//! | `mesh.dev/v1alpha1` | `JoinToken` | a credential the CA accepts, and the identity it proves |
//! | `mesh.dev/v1alpha1` | `TLSPolicy` | the mTLS mode of a Service or of a whole namespace |
//! | `mesh.dev/v1alpha1` | `RoutePolicy` | timeouts, retries and faults of HTTPRoutes and GRPCRoutes |
//! | `mesh.dev/v1alpha1` | `BackendPolicy` | balancing, circuit breaking, retry budget and outlier detection of Services |
//! | `mesh.dev/v1alpha1` | `AuthorizationPolicy` | which callers may make which calls to the servers of Services |
//! | `mesh.dev/v1alpha1` | `RateLimitPolicy` | how many requests each server of Services accepts |
//!
//! A document is read twice: once loosely for its kind and name ([`meta::Header`]), then strictly
//! as that kind, where an unknown field is an error so that a typo does not go unnoticed.
//! Metadata and `status` may hold anything Kubernetes puts there.
//!
//! A document that does not read as its kind (a typo, a wrong type) reports that one error,
//! with its line; the checks of what it means (references, patterns, weights) come once it reads.

pub(crate) mod authorization_policy;
pub(crate) mod backend_policy;
pub(crate) mod endpoint_slice;
pub(crate) mod grpc_route;
pub(crate) mod http_route;
pub(crate) mod join_token;
pub(crate) mod meta;
pub(crate) mod rate_limit_policy;
pub(crate) mod route;
pub(crate) mod route_policy;
pub(crate) mod service;
pub(crate) mod target_ref;
pub(crate) mod tls_policy;

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_saphyr::{Location, MessageFormatter, Spanned, UserMessageFormatter};

use super::error::ConfigError;
use super::source::Document;
use authorization_policy::AuthorizationPolicySpec;
use backend_policy::BackendPolicySpec;
use endpoint_slice::EndpointSlice;
use grpc_route::GrpcMatch;
use http_route::HttpMatch;
use join_token::JoinTokenSpec;
use meta::{Header, NameRule, check_name};
use rate_limit_policy::RateLimitPolicySpec;
use route::RouteSpec;
use route_policy::RoutePolicySpec;
use service::ServiceSpec;
use tls_policy::TlsPolicySpec;

/// A kind of object the config understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// `v1` `Service`.
    Service,
    /// `discovery.k8s.io/v1` `EndpointSlice`.
    EndpointSlice,
    /// `gateway.networking.k8s.io/v1` `HTTPRoute`.
    HttpRoute,
    /// `gateway.networking.k8s.io/v1` `GRPCRoute`.
    GrpcRoute,
    /// `mesh.dev/v1alpha1` `JoinToken`.
    JoinToken,
    /// `mesh.dev/v1alpha1` `TLSPolicy`.
    TlsPolicy,
    /// `mesh.dev/v1alpha1` `RoutePolicy`.
    RoutePolicy,
    /// `mesh.dev/v1alpha1` `BackendPolicy`.
    BackendPolicy,
    /// `mesh.dev/v1alpha1` `AuthorizationPolicy`.
    AuthorizationPolicy,
    /// `mesh.dev/v1alpha1` `RateLimitPolicy`.
    RateLimitPolicy,
}

/// Our own API group and version, for what Kubernetes and Gateway API have no kind for.
const MESH_API_VERSION: &str = "mesh.dev/v1alpha1";

const KINDS: [(Kind, &str, &str); 10] = [
    (Kind::Service, "v1", "Service"),
    (Kind::EndpointSlice, "discovery.k8s.io/v1", "EndpointSlice"),
    (Kind::HttpRoute, "gateway.networking.k8s.io/v1", "HTTPRoute"),
    (Kind::GrpcRoute, "gateway.networking.k8s.io/v1", "GRPCRoute"),
    (Kind::JoinToken, MESH_API_VERSION, "JoinToken"),
    (Kind::TlsPolicy, MESH_API_VERSION, "TLSPolicy"),
    (Kind::RoutePolicy, MESH_API_VERSION, "RoutePolicy"),
    (Kind::BackendPolicy, MESH_API_VERSION, "BackendPolicy"),
    (
        Kind::AuthorizationPolicy,
        MESH_API_VERSION,
        "AuthorizationPolicy",
    ),
    (Kind::RateLimitPolicy, MESH_API_VERSION, "RateLimitPolicy"),
];

const SUPPORTED: &str = "Service (v1), EndpointSlice (discovery.k8s.io/v1), \
                         HTTPRoute and GRPCRoute (gateway.networking.k8s.io/v1), \
                         JoinToken, TLSPolicy, RoutePolicy, BackendPolicy, AuthorizationPolicy \
                         and RateLimitPolicy (mesh.dev/v1alpha1)";

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = KINDS
            .iter()
            .find(|(k, ..)| k == self)
            .map_or("", |(_, _, n)| n);
        f.write_str(name)
    }
}

/// Where an object was written, to point errors at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The file name.
    pub(crate) file: String,
    /// The line where the object starts.
    pub(crate) line: usize,
    /// The object, as errors name it: `HTTPRoute demo/split`.
    pub(crate) object: String,
    first_line: usize,
}

impl Origin {
    /// The file line of `at` (the object's start when `at` is unknown).
    pub(crate) fn line_of(&self, at: Location) -> usize {
        match at.line() {
            0 => self.line,
            n => self.first_line + usize::try_from(n).unwrap_or(usize::MAX) - 1,
        }
    }

    /// An error about `field` of this object, at the line of `at`.
    pub(crate) fn error(
        &self,
        at: Location,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::new(&self.file, self.line_of(at), message)
            .in_object(&self.object)
            .at_field(field)
    }
}

/// One object read from a document.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Where it was written.
    pub(crate) origin: Origin,
    /// Its kind.
    pub(crate) kind: Kind,
    /// `metadata.namespace` (`default` when absent).
    pub(crate) namespace: String,
    /// `metadata.name`.
    pub(crate) name: String,
    /// `metadata.labels`.
    pub(crate) labels: BTreeMap<String, String>,
    /// The kind's own fields; `None` when they did not parse (the error is already reported).
    pub(crate) body: Option<Body>,
}

/// The kind's own fields of an object.
#[derive(Debug)]
pub(crate) enum Body {
    /// A Service's `spec`.
    Service(ServiceSpec),
    /// An EndpointSlice.
    EndpointSlice(EndpointSlice),
    /// An HTTPRoute's `spec`.
    HttpRoute(RouteSpec<HttpMatch>),
    /// A GRPCRoute's `spec`.
    GrpcRoute(RouteSpec<GrpcMatch>),
    /// A JoinToken's `spec`.
    JoinToken(JoinTokenSpec),
    /// A TLSPolicy's `spec` (the policies are boxed: they are large).
    TlsPolicy(Box<TlsPolicySpec>),
    /// A RoutePolicy's `spec`.
    RoutePolicy(Box<RoutePolicySpec>),
    /// A BackendPolicy's `spec`.
    BackendPolicy(Box<BackendPolicySpec>),
    /// An AuthorizationPolicy's `spec`.
    AuthorizationPolicy(Box<AuthorizationPolicySpec>),
    /// A RateLimitPolicy's `spec`.
    RateLimitPolicy(Box<RateLimitPolicySpec>),
}

/// An object whose kind keeps its fields under `spec`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WithSpec<S> {
    #[serde(rename = "apiVersion")]
    _api_version: IgnoredAny,
    #[serde(rename = "kind")]
    _kind: IgnoredAny,
    #[serde(rename = "metadata")]
    _metadata: IgnoredAny,
    spec: S,
    #[serde(rename = "status")]
    _status: Option<IgnoredAny>,
}

/// Reads the object in `doc`; `None` for an empty document or when the object is unusable, in
/// which case the error is in `errors`.
pub(crate) fn parse_document(doc: &Document<'_>, errors: &mut Vec<ConfigError>) -> Option<Parsed> {
    let header = match read::<Option<Spanned<Header>>>(doc.text) {
        Ok(header) => header?,
        Err(e) => {
            let line = e
                .location()
                .map_or(doc.first_line, |l| doc.file_line(l.line()));
            let what = message_of(&e);
            let message = if read::<Option<BTreeMap<String, IgnoredAny>>>(doc.text).is_ok() {
                format!(
                    "{what}; apiVersion, kind, metadata.name and metadata.namespace must be strings \
                     and metadata.labels a map of strings"
                )
            } else if read::<IgnoredAny>(doc.text).is_ok() {
                format!(
                    "not a Kubernetes object ({what}); write a mapping with apiVersion, kind and metadata"
                )
            } else {
                format!("invalid YAML: {what}; fix the syntax")
            };
            errors.push(ConfigError::new(doc.file, line, message));
            return None;
        }
    };
    let mut parsed = identify(doc, header).map_err(|e| errors.push(e)).ok()?;
    match parse_body(parsed.kind, doc.text) {
        Ok(body) => parsed.body = Some(body),
        Err(e) => {
            let origin = &parsed.origin;
            let line = origin.line_of(e.location().unwrap_or(Location::UNKNOWN));
            errors.push(
                ConfigError::new(&origin.file, line, message_of(&e)).in_object(&origin.object),
            );
        }
    }
    Some(parsed)
}

/// Checks a document's kind and name, giving the object without its body.
fn identify(doc: &Document<'_>, header: Spanned<Header>) -> Result<Parsed, ConfigError> {
    let start = doc.file_line(header.referenced.line());
    let at = |field: &str, line: usize, message: String| {
        ConfigError::new(doc.file, line, message).at_field(field)
    };
    let Header {
        api_version,
        kind,
        metadata,
    } = header.value;
    let kind_name = kind.ok_or_else(|| {
        at(
            "kind",
            start,
            format!("is missing; every object needs a kind: one of {SUPPORTED}"),
        )
    })?;
    let api_version = api_version.ok_or_else(|| {
        at(
            "apiVersion",
            start,
            format!("is missing; add the apiVersion of {}", kind_name.value),
        )
    })?;
    let kind = kind_of(&api_version.value, &kind_name.value).map_err(|(field, message)| {
        let spanned = if field == "kind" {
            &kind_name
        } else {
            &api_version
        };
        at(field, doc.file_line(spanned.referenced.line()), message)
    })?;
    let metadata = metadata.ok_or_else(|| {
        at(
            "metadata",
            start,
            format!("is missing; give the {kind} a metadata.name"),
        )
        .in_object(kind.to_string())
    })?;
    let metadata_line = doc.file_line(metadata.referenced.line());
    let meta = metadata.value;
    let name = meta.name.ok_or_else(|| {
        at(
            "metadata.name",
            metadata_line,
            format!("is missing; give the {kind} a name"),
        )
        .in_object(kind.to_string())
    })?;
    let namespace = meta
        .namespace
        .map_or_else(|| "default".to_string(), |n| n.value);
    let origin = Origin {
        file: doc.file.to_string(),
        line: start,
        object: format!("{kind} {namespace}/{}", name.value),
        first_line: doc.first_line,
    };
    let name_rule = if kind == Kind::Service {
        NameRule::Label
    } else {
        NameRule::Subdomain
    };
    for (field, value, rule) in [
        ("metadata.namespace", &namespace, NameRule::Label),
        ("metadata.name", &name.value, name_rule),
    ] {
        check_name(value, rule)
            .map_err(|problem| origin.error(Location::UNKNOWN, field, problem))?;
    }
    Ok(Parsed {
        origin,
        kind,
        namespace,
        name: name.value,
        labels: meta.labels,
        body: None,
    })
}

/// The kind for `apiVersion` and `kind`, or the field that is wrong and why.
fn kind_of(api_version: &str, kind: &str) -> Result<Kind, (&'static str, String)> {
    if let Some((k, ..)) = KINDS
        .iter()
        .find(|(_, v, n)| *v == api_version && *n == kind)
    {
        return Ok(*k);
    }
    match KINDS.iter().find(|(_, _, n)| *n == kind) {
        Some((_, version, _)) => Err((
            "apiVersion",
            format!(
                "{kind} is read as apiVersion {version}, not {api_version:?}; change the apiVersion"
            ),
        )),
        None => Err((
            "kind",
            format!("{kind:?} is not a kind this config understands; use one of {SUPPORTED}"),
        )),
    }
}

fn parse_body(kind: Kind, text: &str) -> Result<Body, serde_saphyr::Error> {
    Ok(match kind {
        Kind::Service => Body::Service(read::<WithSpec<_>>(text)?.spec),
        Kind::EndpointSlice => Body::EndpointSlice(read(text)?),
        Kind::HttpRoute => Body::HttpRoute(read::<WithSpec<_>>(text)?.spec),
        Kind::GrpcRoute => Body::GrpcRoute(read::<WithSpec<_>>(text)?.spec),
        Kind::JoinToken => Body::JoinToken(read::<WithSpec<_>>(text)?.spec),
        Kind::TlsPolicy => Body::TlsPolicy(Box::new(read::<WithSpec<_>>(text)?.spec)),
        Kind::RoutePolicy => Body::RoutePolicy(Box::new(read::<WithSpec<_>>(text)?.spec)),
        Kind::BackendPolicy => Body::BackendPolicy(Box::new(read::<WithSpec<_>>(text)?.spec)),
        Kind::AuthorizationPolicy => {
            Body::AuthorizationPolicy(Box::new(read::<WithSpec<_>>(text)?.spec))
        }
        Kind::RateLimitPolicy => Body::RateLimitPolicy(Box::new(read::<WithSpec<_>>(text)?.spec)),
    })
}

fn read<T: DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    serde_saphyr::from_str_with_options(text, serde_saphyr::options! { with_snippet: false })
}

/// The parser's message without its location (errors carry their own) or control characters.
fn message_of(error: &serde_saphyr::Error) -> String {
    let text = UserMessageFormatter.format_message(error);
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
