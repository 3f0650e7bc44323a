//! The validated mesh configuration: what the YAML sources declare, resolved and checked.
//!
//! This is the contract between the config sources (a directory today, Kubernetes later) and the
//! snapshot builder that turns it into xDS resources. Routes are already in the domain model's
//! terms, with clusters named by [`crate::names::cluster_name`].

use std::collections::BTreeMap;
use std::fmt;

use mesh_core::model::{
    AuthzAction, ClusterPolicy, Endpoint, LocalRateLimit, Permission, Route, StringMatch,
    UpstreamProtocol,
};
use spiffe::TrustDomain;

/// A whole, valid mesh configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshConfig {
    /// Every Service, by namespace and name.
    pub services: BTreeMap<ServiceRef, ServiceConfig>,
    /// The join tokens the CA accepts, by token, with the identity each one proves.
    pub join_tokens: BTreeMap<String, WorkloadIdentity>,
}

/// The identity a credential proves: a service account in a namespace, which becomes the
/// SPIFFE ID `spiffe://<trust-domain>/ns/<namespace>/sa/<service_account>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkloadIdentity {
    /// The namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
}

impl WorkloadIdentity {
    /// Its SPIFFE ID in `trust_domain`, as text:
    /// `spiffe://<trust-domain>/ns/<namespace>/sa/<service_account>`.
    pub fn spiffe_id(&self, trust_domain: &TrustDomain) -> String {
        format!(
            "{}{}",
            namespace_prefix(trust_domain, &self.namespace),
            self.service_account
        )
    }
}

/// The start of the SPIFFE IDs of every service account of `namespace` in `trust_domain`:
/// `spiffe://<trust-domain>/ns/<namespace>/sa/`.
pub(crate) fn namespace_prefix(trust_domain: &TrustDomain, namespace: &str) -> String {
    format!("{}/ns/{namespace}/sa/", trust_domain.id_string())
}

/// A Service's namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceRef {
    /// The namespace (`default` when a manifest leaves it out).
    pub namespace: String,
    /// The Service name.
    pub name: String,
}

impl ServiceRef {
    /// A reference to Service `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One Service and its ports.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// Which Service this is.
    pub service: ServiceRef,
    /// Its ports, in the order the manifest lists them (the first is the default port).
    pub ports: Vec<PortConfig>,
    /// How its endpoints speak mTLS, from the TLSPolicy that selects it.
    pub tls: ServiceTls,
    /// How clients balance over, limit, eject and retry the endpoints of each of its ports,
    /// from the BackendPolicy that targets it (the default without one).
    pub policy: ClusterPolicy,
    /// Which calls its servers accept, from the AuthorizationPolicy that targets it; `None`:
    /// every call.
    pub authorization: Option<AuthorizationConfig>,
    /// How many requests each of its servers accepts, from the RateLimitPolicy that targets
    /// it; `None`: no bound.
    pub rate_limit: Option<LocalRateLimit>,
}

/// An AuthorizationPolicy, resolved. Callers are still named as the YAML names them: the
/// snapshot turns them into SPIFFE ID matches of mesh-control's trust domain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorizationConfig {
    /// The policy, `namespace/name`: the rules of one policy reach a server once, even when
    /// it serves several of the Services the policy targets.
    pub policy: String,
    /// The rules, in the order they were written.
    pub rules: Vec<AuthzRuleConfig>,
    /// What happens to a call no rule matches.
    pub default_action: AuthzAction,
}

/// One rule of an AuthorizationPolicy.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthzRuleConfig {
    /// `namespace/policy/rule`, unique among all rules.
    pub name: String,
    /// What to do with a matching call.
    pub action: AuthzAction,
    /// Any of these callers; empty: every caller, authenticated or not.
    pub from: Vec<Caller>,
    /// Any of these requests; empty: every request.
    pub to: Vec<Permission>,
}

/// A caller, as an AuthorizationPolicy names it.
#[derive(Clone, Debug, PartialEq)]
pub enum Caller {
    /// A service account: the SPIFFE ID `spiffe://<trust domain>/ns/<namespace>/sa/<account>`.
    ServiceAccount(WorkloadIdentity),
    /// Any service account of a namespace.
    Namespace(String),
    /// A caller whose SPIFFE ID matches.
    SpiffeId(StringMatch),
    /// Any caller that proved an identity.
    Authenticated,
}

/// The mTLS settings of a Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTls {
    /// What its servers accept, and so what its clients speak.
    pub mode: TlsMode,
    /// The service accounts (in the Service's namespace) its servers run as: clients accept
    /// only these server identities. Empty: any identity of the Service's namespace.
    pub service_accounts: Vec<String>,
}

/// The mTLS mode of a Service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Servers accept mTLS only; clients speak mTLS.
    Strict,
    /// Servers accept mTLS and plaintext on one port; clients speak mTLS. The default.
    #[default]
    Permissive,
    /// No mTLS: servers and clients speak plaintext (for endpoints outside the mesh).
    Disable,
}

/// One port of a Service: its routes and its static endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct PortConfig {
    /// The port's name, if it has one (EndpointSlice ports refer to it).
    pub name: Option<String>,
    /// The port number clients dial.
    pub port: u16,
    /// The HTTP version its endpoints speak, from `appProtocol`.
    pub protocol: UpstreamProtocol,
    /// The routes for requests to this port, in match order. Without an attached HTTPRoute or
    /// GRPCRoute this is one catch-all route to the port's own cluster.
    pub routes: Vec<Route>,
    /// Endpoints declared in EndpointSlices (self-registered ones are added by the snapshot).
    pub endpoints: Vec<Endpoint>,
}
