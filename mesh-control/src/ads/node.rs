//! What a client's xDS `Node` tells us about what it serves.

use envoy_types::pb::envoy::config::core::v3::Node;
use mesh_core::registration::{Registration, RegistrationError};
use mesh_core::xds::json::struct_to_json;

/// The registrations in a node's metadata (none without metadata or without the key).
pub(crate) fn registrations(node: &Node) -> Result<Vec<Registration>, RegistrationError> {
    match &node.metadata {
        None => Ok(Vec::new()),
        Some(metadata) => {
            Registration::from_metadata(&serde_json::Value::Object(struct_to_json(metadata)))
        }
    }
}
