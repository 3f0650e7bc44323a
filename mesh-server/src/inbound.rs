//! The server's inbound listener: what mesh-control says about the address it serves on.
//!
//! A meshed server asks for the Listener its bootstrap names for the address it listens on
//! ([`Bootstrap::server_listener_name`](mesh_core::bootstrap::Bootstrap::server_listener_name):
//! `grpc/server?xds.resource.listening_address=IP:PORT` unless a template says otherwise, gRFC
//! A36). Subscribing also opens the ADS stream that carries the server's registration in
//! its node metadata. The listener's mTLS mode ([`InboundTls`]) decides which connections the
//! server accepts, and its policies ([`InboundPolicy`]) which calls; [`follow`] publishes both:
//! a new mode applies to the connections accepted after it, new policies to the calls that
//! come after them.
//!
//! A listener that mesh-control removes after it was in force means the server should no
//! longer serve: [`follow`] says [`Inbound::Removed`] and the server drains. A listener that
//! never arrived, or the control service going away, leaves everything as it is (fail static).

use std::net::SocketAddr;
use std::sync::Arc;

use mesh_core::model::{InboundTls, Listener};
use mesh_core::xds::{ResourceState, ResourceWatch};
use tokio::sync::watch;

use crate::InboundPolicy;

/// The mode a server applies when its listener says `listener`: without an identity it can
/// only serve plaintext.
fn effective(listener: InboundTls, has_identity: bool) -> InboundTls {
    if has_identity {
        listener
    } else {
        InboundTls::Plaintext
    }
}

/// What the server knows of its inbound listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inbound {
    /// Not arrived yet: nothing is accepted.
    Pending,
    /// In force, with the mTLS mode the server applies.
    InForce(InboundTls),
    /// Removed by mesh-control after having been in force: the server drains.
    Removed,
}

/// Follows the inbound listener until the xDS client shuts down or the listener is removed,
/// logging its states and publishing its policies, then the state (so that a call accepted in
/// a state sees its policies).
pub(crate) async fn follow(
    mut watch: ResourceWatch<Listener>,
    addr: SocketAddr,
    has_identity: bool,
    state: watch::Sender<Inbound>,
    policy: watch::Sender<Arc<InboundPolicy>>,
) {
    let mut said_no_identity = false;
    let mut seen = false;
    loop {
        match watch.current() {
            ResourceState::Pending => {}
            ResourceState::Present(listener) => match &*listener {
                Listener::Server(server) => {
                    if server.tls == InboundTls::Strict && !has_identity && !said_no_identity {
                        said_no_identity = true;
                        tracing::error!(%addr, "inbound listener says STRICT but this server has no identity: serving plaintext; give the MeshServer an Identity");
                    }
                    let applied = effective(server.tls, has_identity);
                    let new = InboundPolicy::of(server);
                    tracing::info!(%addr, listener = %server.name, mtls = ?applied, authorization = new.authorization.is_some(), rate_limit = ?new.rate_limit, "received the inbound xDS listener");
                    policy.send_if_modified(|current| {
                        let changed = **current != new;
                        if changed {
                            *current = Arc::new(new);
                        }
                        changed
                    });
                    state.send_replace(Inbound::InForce(applied));
                    seen = true;
                }
                Listener::Client(client) => {
                    tracing::warn!(%addr, listener = %client.name, "the inbound xDS listener is a client listener; ignoring it");
                }
            },
            ResourceState::DoesNotExist => {
                if seen {
                    tracing::warn!(%addr, "mesh-control removed the inbound listener of this server");
                    state.send_replace(Inbound::Removed);
                    return;
                }
                tracing::warn!(%addr, "mesh-control has no inbound listener for this server");
            }
        }
        if watch.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_identity_every_mode_is_plaintext() {
        for tls in [
            InboundTls::Strict,
            InboundTls::Permissive,
            InboundTls::Plaintext,
        ] {
            assert_eq!(effective(tls, false), InboundTls::Plaintext);
            assert_eq!(effective(tls, true), tls);
        }
    }
}
