//! Listeners: the entry point a target name resolves to.

use std::net::SocketAddr;
use std::sync::Arc;

use super::{Authorization, LocalRateLimit, RouteConfig};

/// A Listener resource, as a client (`ApiListener`) or a server (A36 inbound listener) sees it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Listener {
    /// The listener a client looks up for a target such as `xds:///serviceb.demo:50051`.
    Client(ClientListener),
    /// The inbound listener a meshed server looks up for the address it listens on.
    Server(ServerListener),
}

impl Listener {
    /// The resource name.
    pub fn name(&self) -> &str {
        match self {
            Listener::Client(l) => &l.name,
            Listener::Server(l) => &l.name,
        }
    }
}

/// A client-side listener: an `ApiListener` holding an HTTP connection manager.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClientListener {
    /// The resource name, which is the target's authority (`serviceb.demo:50051`).
    pub name: String,
    /// Where the route table comes from.
    pub routes: RouteSource,
}

/// A server-side (inbound) listener, named `grpc/server?xds.resource.listening_address=IP:PORT`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ServerListener {
    /// The resource name.
    pub name: String,
    /// The address the server listens on.
    pub address: SocketAddr,
    /// Where the inbound route table comes from.
    pub routes: RouteSource,
    /// Which connections the server accepts: mTLS, plaintext or both.
    pub tls: InboundTls,
    /// Which calls it accepts, by caller and request; `None`: all.
    pub authorization: Option<Authorization>,
    /// How many calls it accepts; `None`: no bound.
    pub rate_limit: Option<LocalRateLimit>,
}

/// Which connections a server accepts (its mTLS mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundTls {
    /// Plaintext only (an xDS filter chain without a transport socket).
    Plaintext,
    /// mTLS and plaintext on one port, told apart by the first bytes of the connection.
    #[default]
    Permissive,
    /// mTLS only, with a client certificate that chains to the trust bundle.
    Strict,
}

/// Where a listener's route table comes from.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    /// Fetched separately over RDS, by this RouteConfiguration name.
    Rds(String),
    /// Carried inside the listener.
    Inline(#[serde(serialize_with = "super::serde_text::shared")] Arc<RouteConfig>),
}
