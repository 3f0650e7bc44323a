//! The errors of building and running a meshed server.

use std::net::SocketAddr;

/// Why a meshed server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}; is the address in use or not local?")]
    Bind {
        /// The address asked for, as given.
        addr: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Services to register but no bootstrap to tell mesh-control about them.
    #[error(
        "cannot register {services:?} without xDS: set a bootstrap with \
         MeshServerBuilder::bootstrap (e.g. from mesh_core::bootstrap::Bootstrap::from_env())"
    )]
    RegisterWithoutBootstrap {
        /// The services given to `register`.
        services: Vec<String>,
    },
    /// The server would register an address clients cannot dial.
    #[error(
        "cannot register {local_addr}: clients cannot dial an unspecified address; set \
         MeshServerBuilder::advertise to the address they should use"
    )]
    UnspecifiedAddress {
        /// The bound address.
        local_addr: SocketAddr,
    },
    /// The xDS client could not be built.
    #[error("cannot start the xDS client of the server: {0}")]
    Xds(#[from] mesh_core::xds::client::XdsError),
}
