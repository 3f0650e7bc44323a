//! Mesh configuration: Kubernetes-style YAML in, a validated [`MeshConfig`] out.

mod model;

pub use model::{MeshConfig, PortConfig, ServiceConfig, ServiceRef};
