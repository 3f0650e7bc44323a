//! mesh-control: the control service of the proxyless mesh.

pub mod admin;
pub mod ads;
pub mod ca;
pub mod cli;
pub mod config;
mod metrics;
pub mod names;
pub mod registry;
pub mod resource_types;
pub mod server;
pub mod snapshot;
