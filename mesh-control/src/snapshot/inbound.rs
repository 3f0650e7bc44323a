//! Server listeners (gRFC A36), made on demand for the address in their name, with the mTLS
//! mode of the Services served there.
//!
//! A server at `IP:PORT` serves the Services that have that address as an endpoint (in an
//! EndpointSlice, or registered by the server itself). It accepts what the strictest of them
//! asks for: strict (mTLS only) over permissive (mTLS and plaintext) over plaintext. An address
//! no Service knows is permissive, so meshed clients get mTLS and others still get through.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use mesh_core::model::{
    self, InboundTls, PathMatch, Route, RouteAction, RouteConfig, RouteMatch, RouteSource,
    ServerListener, VirtualHost,
};
use mesh_core::xds::{encode, type_url};

use super::{Resource, Snapshot};
use crate::config::TlsMode;

/// The inbound mTLS mode of every endpoint address of the mesh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct InboundModes(BTreeMap<SocketAddr, InboundTls>);

impl InboundModes {
    /// Records that `address` serves a Service in `mode`; the strictest mode seen wins.
    pub(crate) fn add(&mut self, address: SocketAddr, mode: TlsMode) {
        let mode = inbound_tls(mode);
        let current = self.0.entry(address).or_insert(mode);
        if strictness(mode) > strictness(*current) {
            *current = mode;
        }
    }

    /// The mode of `address`: permissive for an address no Service has as an endpoint.
    fn get(&self, address: SocketAddr) -> InboundTls {
        self.0
            .get(&address)
            .copied()
            .unwrap_or(InboundTls::Permissive)
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
    /// other name. Its routes serve every request locally; its mTLS mode is that of the
    /// Services with this address as an endpoint.
    pub fn server_listener(&self, name: &str) -> Option<Resource> {
        let address = name
            .strip_prefix(type_url::SERVER_LISTENER_PREFIX)?
            .parse()
            .ok()?;
        let listener = model::Listener::Server(ServerListener {
            authorization: None,
            rate_limit: None,
            name: name.to_string(),
            address,
            routes: RouteSource::Inline(Arc::new(local_routes())),
            tls: self.inbound.get(address),
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
        for order in orders {
            let mut modes = InboundModes::default();
            for mode in order {
                modes.add(addr, mode);
            }
            assert_eq!(modes.get(addr), InboundTls::Strict);
        }
        let mut modes = InboundModes::default();
        modes.add(addr, TlsMode::Disable);
        assert_eq!(modes.get(addr), InboundTls::Plaintext);
        modes.add(addr, TlsMode::Permissive);
        assert_eq!(modes.get(addr), InboundTls::Permissive);
        assert_eq!(
            modes.get("10.0.0.2:80".parse().unwrap()),
            InboundTls::Permissive
        );
    }
}
