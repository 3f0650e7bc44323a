//! The server's inbound listener: what mesh-control says about the address it serves on.
//!
//! A meshed server asks for the Listener `grpc/server?xds.resource.listening_address=IP:PORT`
//! (gRFC A36). Subscribing also opens the ADS stream that carries the server's registration in
//! its node metadata. For now the listener is only logged; inbound policy (mTLS,
//! authorization) will be read from it.

use std::net::SocketAddr;

use mesh_core::model::Listener;
use mesh_core::xds::type_url::SERVER_LISTENER_PREFIX;
use mesh_core::xds::{ResourceState, ResourceWatch, XdsClient};

/// The name of the inbound listener of a server listening on `addr`.
pub(crate) fn listener_name(addr: SocketAddr) -> String {
    format!("{SERVER_LISTENER_PREFIX}{addr}")
}

/// Subscribes to the inbound listener of `addr`.
pub(crate) fn subscribe(xds: &XdsClient, addr: SocketAddr) -> ResourceWatch<Listener> {
    xds.listener(&listener_name(addr))
}

/// Logs every state the inbound listener takes, until the xDS client shuts down.
pub(crate) async fn follow(mut watch: ResourceWatch<Listener>, addr: SocketAddr) {
    loop {
        match watch.current() {
            ResourceState::Pending => {}
            ResourceState::Present(listener) => {
                tracing::info!(%addr, listener = listener.name(), "received the inbound xDS listener");
            }
            ResourceState::DoesNotExist => {
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
    fn name_follows_a36() {
        let addr = "10.0.0.7:50051".parse().unwrap();
        assert_eq!(
            listener_name(addr),
            "grpc/server?xds.resource.listening_address=10.0.0.7:50051"
        );
    }
}
