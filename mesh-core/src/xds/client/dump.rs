//! The config dump: everything the xDS client holds, for an admin endpoint to show.
//!
//! [`XdsClient::config_dump`](super::XdsClient::config_dump) returns a [`ConfigDump`]: where the
//! config comes from, whether the stream is up, and per resource type the version in use, the
//! last rejected response (if the type's latest response was rejected) and every subscribed
//! resource with its validated [`crate::model`] value. It serializes to JSON with
//! `serde_json::to_string_pretty(&dump)`; that is what an app's `/config_dump` returns.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::watch::ResourceState;
use crate::model;

/// What the xDS client holds, at one moment.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct ConfigDump {
    /// The node id of the bootstrap.
    pub node_id: String,
    /// The management server, as the bootstrap names it (`host:port`).
    pub server_uri: String,
    /// Whether the ADS stream is open. When it is not, everything below is the last config
    /// received (fail static).
    pub connected: bool,
    /// The Listeners subscribed to.
    pub listeners: TypeDump<model::Listener>,
    /// The RouteConfigurations subscribed to.
    pub route_configs: TypeDump<model::RouteConfig>,
    /// The Clusters subscribed to.
    pub clusters: TypeDump<model::Cluster>,
    /// The ClusterLoadAssignments subscribed to.
    pub endpoints: TypeDump<model::ClusterLoadAssignment>,
}

impl ConfigDump {
    /// A dump holding no resources, for the task to fill.
    pub(crate) fn empty(node_id: String, server_uri: String) -> ConfigDump {
        ConfigDump {
            node_id,
            server_uri,
            connected: false,
            listeners: TypeDump::empty(),
            route_configs: TypeDump::empty(),
            clusters: TypeDump::empty(),
            endpoints: TypeDump::empty(),
        }
    }
}

/// The state of one resource type.
#[derive(Clone, Debug, Serialize)]
#[serde(bound = "T: Serialize")]
#[non_exhaustive]
pub struct TypeDump<T> {
    /// The `version_info` of the last accepted response ("" before the first).
    pub version: String,
    /// The latest response of this type, if it was rejected (NACKed); a later accepted
    /// response clears it.
    pub last_nack: Option<Nack>,
    /// Every subscribed resource, by name.
    pub resources: Vec<ResourceDump<T>>,
}

impl<T> TypeDump<T> {
    pub(crate) fn empty() -> TypeDump<T> {
        TypeDump {
            version: String::new(),
            last_nack: None,
            resources: Vec::new(),
        }
    }
}

/// A rejected response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Nack {
    /// The `version_info` of the rejected response.
    pub version: String,
    /// Its nonce.
    pub nonce: String,
    /// Why it was rejected: the `error_detail` sent to the server.
    pub error: String,
}

impl Nack {
    pub(crate) fn new(version: String, nonce: String, error: String) -> Nack {
        Nack {
            version,
            nonce,
            error,
        }
    }
}

/// One subscribed resource.
#[derive(Clone, Debug, Serialize)]
#[serde(bound = "T: Serialize")]
#[non_exhaustive]
pub struct ResourceDump<T> {
    /// The resource name.
    pub name: String,
    /// What the client knows of it.
    pub status: ResourceStatus,
    /// The validated value, when `status` is `present`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "shared_value"
    )]
    pub value: Option<Arc<T>>,
}

impl<T> ResourceDump<T> {
    pub(crate) fn new(name: String, state: ResourceState<T>) -> ResourceDump<T> {
        let (status, value) = match state {
            ResourceState::Pending => (ResourceStatus::Pending, None),
            ResourceState::Present(value) => (ResourceStatus::Present, Some(value)),
            ResourceState::DoesNotExist => (ResourceStatus::DoesNotExist, None),
        };
        ResourceDump {
            name,
            status,
            value,
        }
    }
}

/// What the client knows of a resource (see [`ResourceState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResourceStatus {
    /// Asked for; no answer yet.
    Pending,
    /// Received and valid.
    Present,
    /// The server says it does not exist, or did not answer in time.
    DoesNotExist,
}

/// The value itself (serde serializes `Arc` only with its `rc` feature).
fn shared_value<S: Serializer, T: Serialize>(
    value: &Option<Arc<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    value.as_deref().serialize(serializer)
}
