//! Server listeners (gRFC A36), made on demand for the address in their name, with the mTLS
//! mode, authorization and rate limit of the Services served there.
//!
//! A server at `IP:PORT` serves the Services that have that address as an endpoint (in an
//! EndpointSlice, or registered by the server itself). It accepts what the strictest of them
//! asks for: strict (mTLS only) over permissive (mTLS and plaintext) over plaintext. An address
//! no Service knows is permissive, so meshed clients get mTLS and others still get through,
//! and has no authorization or rate limit. The policies of several Services at one address are
//! merged as the `authz` module explains.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, OnceLock};

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

/// What the servers at every endpoint address accept, while a snapshot is built: every
/// Service seen so far at each address.
#[derive(Debug, Default)]
pub(crate) struct InboundBuilder(BTreeMap<SocketAddr, Gathered>);

/// What the Services seen so far at one address ask of its server.
#[derive(Debug)]
struct Gathered {
    tls: InboundTls,
    /// The authorizations of its Services, by policy name.
    authorizations: BTreeMap<String, Arc<Authorization>>,
    rate_limit: Option<LocalRateLimit>,
}

impl InboundBuilder {
    /// Records that `address` serves a Service with `policy`: the strictest mode seen wins, the
    /// authorizations add up, the lowest rate limit wins.
    pub(crate) fn add(&mut self, address: SocketAddr, policy: &InboundPolicy) {
        let gathered = self.0.entry(address).or_insert_with(|| Gathered {
            tls: policy.tls,
            authorizations: BTreeMap::new(),
            rate_limit: None,
        });
        if strictness(policy.tls) > strictness(gathered.tls) {
            gathered.tls = policy.tls;
        }
        if let Some((name, authz)) = &policy.authorization {
            gathered
                .authorizations
                .insert(name.clone(), Arc::clone(authz));
        }
        gathered.rate_limit = match (gathered.rate_limit, policy.rate_limit) {
            (Some(a), Some(b)) => Some(lower(a, b)),
            (a, b) => a.or(b),
        };
    }

    /// What each address accepts, its Services' authorizations merged once.
    pub(crate) fn build(self) -> Inbound {
        let served = self.0.into_iter().map(|(address, gathered)| {
            let served = Served {
                tls: gathered.tls,
                authorization: merge(&gathered.authorizations),
                rate_limit: gathered.rate_limit,
                listener: Encoded::default(),
            };
            (address, served)
        });
        Inbound(served.collect())
    }
}

/// What the servers at every endpoint address of the mesh accept.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Inbound(BTreeMap<SocketAddr, Served>);

/// What the server at one address accepts, from all the Services it serves.
#[derive(Clone, Debug, PartialEq)]
struct Served {
    tls: InboundTls,
    authorization: Option<Authorization>,
    rate_limit: Option<LocalRateLimit>,
    /// Its listener under the canonical name of the address, once a server asked for it.
    listener: Encoded,
}

/// A listener encoded on first use; it is derived from the rest, so it never makes two
/// [`Served`] unequal.
#[derive(Clone, Debug, Default)]
struct Encoded(OnceLock<Resource>);

impl PartialEq for Encoded {
    fn eq(&self, _: &Self) -> bool {
        true
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
    /// rate limit are those of the Services with this address as an endpoint. The listener of
    /// an endpoint address, under its canonical name, is encoded once per snapshot.
    pub fn server_listener(&self, name: &str) -> Option<Cow<'_, Resource>> {
        let written = name.strip_prefix(type_url::SERVER_LISTENER_PREFIX)?;
        let address: SocketAddr = written.parse().ok()?;
        let Some(served) = self.inbound.0.get(&address) else {
            return Some(Cow::Owned(listener(
                name,
                address,
                InboundTls::Permissive,
                None,
                None,
            )));
        };
        let encode = || {
            listener(
                name,
                address,
                served.tls,
                served.authorization.clone(),
                served.rate_limit,
            )
        };
        if written == address.to_string() {
            Some(Cow::Borrowed(served.listener.0.get_or_init(encode)))
        } else {
            Some(Cow::Owned(encode()))
        }
    }
}

/// The encoded server listener `name` of `address`.
fn listener(
    name: &str,
    address: SocketAddr,
    tls: InboundTls,
    authorization: Option<Authorization>,
    rate_limit: Option<LocalRateLimit>,
) -> Resource {
    let listener = model::Listener::Server(ServerListener {
        authorization,
        rate_limit,
        name: name.to_string(),
        address,
        routes: RouteSource::Inline(Arc::clone(&LOCAL_ROUTES)),
        tls,
    });
    Resource::new(encode::to_any(&encode::listener(&listener)))
}

/// One catch-all route served by the server itself, shared by every server listener.
static LOCAL_ROUTES: LazyLock<Arc<RouteConfig>> = LazyLock::new(|| {
    Arc::new(RouteConfig {
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
    })
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The mode of `address`: permissive for an address no Service has as an endpoint.
    fn tls(inbound: &Inbound, address: SocketAddr) -> InboundTls {
        inbound
            .0
            .get(&address)
            .map_or(InboundTls::Permissive, |served| served.tls)
    }

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
            let mut inbound = InboundBuilder::default();
            for mode in order {
                inbound.add(addr, &policy(mode));
            }
            assert_eq!(tls(&inbound.build(), addr), InboundTls::Strict);
        }
        let mut inbound = InboundBuilder::default();
        inbound.add(addr, &policy(TlsMode::Disable));
        assert_eq!(tls(&inbound.build(), addr), InboundTls::Plaintext);
        let mut inbound = InboundBuilder::default();
        inbound.add(addr, &policy(TlsMode::Disable));
        inbound.add(addr, &policy(TlsMode::Permissive));
        let inbound = inbound.build();
        assert_eq!(tls(&inbound, addr), InboundTls::Permissive);
        assert_eq!(
            tls(&inbound, "10.0.0.2:80".parse().unwrap()),
            InboundTls::Permissive
        );
    }
}
