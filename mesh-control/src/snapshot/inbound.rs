//! Server listeners (gRFC A36), made on demand for the address in their name, with the mTLS
//! mode, authorization and rate limit of the Services served there.
//!
//! A server at `IP:PORT` serves the Services that have that address as an endpoint (in an
//! EndpointSlice, or registered by the server itself). It accepts what the strictest of them
//! asks for: strict (mTLS only) over permissive (mTLS and plaintext) over plaintext. An address
//! no Service knows is permissive, so meshed clients get mTLS and others still get through,
//! and has no authorization or rate limit. The policies of several Services at one address are
//! merged as the `authz` module explains.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use mesh_core::model::{
    self, Authorization, InboundTls, LocalRateLimit, PathMatch, Route, RouteAction, RouteConfig,
    RouteMatch, RouteSource, ServerListener, VirtualHost,
};
use mesh_core::xds::{encode, type_url};
use spiffe::TrustDomain;

use super::authz::{authorization, lower, merge};
use super::{Resource, Snapshot};
use crate::config::{ServiceConfig, TlsMode};

/// What one Service asks of the servers at its endpoint addresses.
#[derive(Clone, Debug)]
pub(crate) struct InboundPolicy {
    tls: InboundTls,
    /// The policy's name and its authorization.
    authorization: Option<(String, Arc<Authorization>)>,
    rate_limit: Option<LocalRateLimit>,
}

impl InboundPolicy {
    /// The inbound policy of `service`, with callers in `trust_domain`.
    pub(crate) fn of(service: &ServiceConfig, trust_domain: &TrustDomain) -> Self {
        Self {
            tls: inbound_tls(service.tls.mode),
            authorization: service.authorization.as_ref().map(|config| {
                let authz = authorization(config, trust_domain);
                (config.policy.clone(), Arc::new(authz))
            }),
            rate_limit: service.rate_limit,
        }
    }
}

/// What the servers at every endpoint address of the mesh accept.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Inbound(BTreeMap<SocketAddr, Served>);

/// What the server at one address accepts, from all the Services it serves.
#[derive(Clone, Debug, PartialEq)]
struct Served {
    tls: InboundTls,
    /// The authorizations of its Services, by policy name.
    authorizations: BTreeMap<String, Arc<Authorization>>,
    rate_limit: Option<LocalRateLimit>,
}

impl Inbound {
    /// Records that `address` serves a Service with `policy`: the strictest mode seen wins, the
    /// authorizations add up, the lowest rate limit wins.
    pub(crate) fn add(&mut self, address: SocketAddr, policy: &InboundPolicy) {
        let served = self.0.entry(address).or_insert_with(|| Served {
            tls: policy.tls,
            authorizations: BTreeMap::new(),
            rate_limit: None,
        });
        if strictness(policy.tls) > strictness(served.tls) {
            served.tls = policy.tls;
        }
        if let Some((name, authz)) = &policy.authorization {
            served
                .authorizations
                .insert(name.clone(), Arc::clone(authz));
        }
        served.rate_limit = match (served.rate_limit, policy.rate_limit) {
            (Some(a), Some(b)) => Some(lower(a, b)),
            (a, b) => a.or(b),
        };
    }

    /// The mode of `address`: permissive for an address no Service has as an endpoint.
    fn tls(&self, address: SocketAddr) -> InboundTls {
        self.0
            .get(&address)
            .map_or(InboundTls::Permissive, |served| served.tls)
    }
}

/// What a server accepts for a Service in `mode`.
fn inbound_tls(mode: TlsMode) -> InboundTls {
    match mode {
        TlsMode::Strict => InboundTls::Strict,
        TlsMode::Permissive => InboundTls::Permissive,
        TlsMode::Disable => InboundTls::Plaintext,
    }
}

fn strictness(tls: InboundTls) -> u8 {
    match tls {
        InboundTls::Plaintext => 0,
        InboundTls::Permissive => 1,
        InboundTls::Strict => 2,
    }
}

impl Snapshot {
    /// The inbound Listener for a name of the form
    /// `grpc/server?xds.resource.listening_address=IP:PORT` (gRFC A36), or `None` for any
    /// other name. Its routes serve every request locally; its mTLS mode, authorization and
    /// rate limit are those of the Services with this address as an endpoint.
    pub fn server_listener(&self, name: &str) -> Option<Resource> {
        let address = name
            .strip_prefix(type_url::SERVER_LISTENER_PREFIX)?
            .parse()
            .ok()?;
        let served = self.inbound.0.get(&address);
        let listener = model::Listener::Server(ServerListener {
            authorization: served.and_then(|s| merge(&s.authorizations)),
            rate_limit: served.and_then(|s| s.rate_limit),
            name: name.to_string(),
            address,
            routes: RouteSource::Inline(Arc::new(local_routes())),
            tls: self.inbound.tls(address),
        });
        Some(Resource::new(encode::to_any(&encode::listener(&listener))))
    }
}

/// One catch-all route served by the server itself.
fn local_routes() -> RouteConfig {
    RouteConfig {
        name: "inbound".into(),
        virtual_hosts: vec![VirtualHost {
            name: "inbound".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                policy: Default::default(),
                name: "local".into(),
                matcher: RouteMatch {
                    path: PathMatch::Prefix(String::new()),
                    case_sensitive: true,
                    headers: Vec::new(),
                },
                action: RouteAction::NonForwarding,
            }],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strictest_mode_wins_whatever_the_order() {
        let addr: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let orders = [
            [TlsMode::Disable, TlsMode::Strict, TlsMode::Permissive],
            [TlsMode::Strict, TlsMode::Permissive, TlsMode::Disable],
        ];
        let policy = |tls| InboundPolicy {
            tls: inbound_tls(tls),
            authorization: None,
            rate_limit: None,
        };
        for order in orders {
            let mut inbound = Inbound::default();
            for mode in order {
                inbound.add(addr, &policy(mode));
            }
            assert_eq!(inbound.tls(addr), InboundTls::Strict);
        }
        let mut inbound = Inbound::default();
        inbound.add(addr, &policy(TlsMode::Disable));
        assert_eq!(inbound.tls(addr), InboundTls::Plaintext);
        inbound.add(addr, &policy(TlsMode::Permissive));
        assert_eq!(inbound.tls(addr), InboundTls::Permissive);
        assert_eq!(
            inbound.tls("10.0.0.2:80".parse().unwrap()),
            InboundTls::Permissive
        );
    }
}
