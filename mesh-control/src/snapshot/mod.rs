//! Snapshots: the whole xDS view of the mesh at one moment, encoded and ready to send.
//!
//! A [`Snapshot`] holds, per resource type, every resource by name as an encoded `Any` plus a
//! content hash. The ADS layer answers requests from the current snapshot and, when a new one
//! is published, re-sends to each client only the types whose subscribed content changed.
//!
//! Snapshots are built from the [`MeshConfig`](crate::config::MeshConfig) and the
//! self-registered endpoints ([`build`](Snapshot::build)) and published on a `watch` channel
//! by [`publish`], which numbers them: the version goes up on every change of content.
//! Server-side listeners (gRFC A36) are not in the maps: any meshed server may ask for the
//! one of its own address, so they are made on demand ([`Snapshot::server_listener`]) from
//! the inbound mTLS mode, authorization and rate limit of each endpoint address, which the
//! snapshot keeps, merged once at build time; the listener of an endpoint address is encoded
//! on the first request for it and kept for the life of the snapshot.

mod authz;
mod build;
mod inbound;
mod publish;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

use envoy_types::pb::google::protobuf::Any;
use mesh_core::xds::type_url;

use inbound::Inbound;

pub(crate) use authz::foreign_ids;
pub use build::{BuildSettings, DEFAULT_TRUST_DOMAIN, EmptyAssignments};
pub use publish::publish;

/// One encoded resource and the hash of its encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// The resource, ready for a `DiscoveryResponse`.
    pub any: Any,
    /// A hash of `any`, to tell cheaply whether it changed.
    pub hash: u64,
}

impl Resource {
    /// Wraps an encoded resource and hashes it.
    pub fn new(any: Any) -> Self {
        let mut hasher = DefaultHasher::new();
        hasher.write(any.type_url.as_bytes());
        hasher.write(&any.value);
        Self {
            hash: hasher.finish(),
            any,
        }
    }
}

/// The resources of one type, by name (shared with the status of the streams they are sent on).
pub type Resources = BTreeMap<Arc<str>, Resource>;

/// Every resource of the mesh at one moment, with a version.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    version: u64,
    /// Indexed like [`RESOURCE_TYPES`](crate::resource_types::RESOURCE_TYPES).
    resources: [Resources; 4],
    /// What the server at each endpoint address accepts, for server listeners.
    inbound: Inbound,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            version: 1,
            resources: Default::default(),
            inbound: Inbound::default(),
        }
    }
}

impl Snapshot {
    /// The version, which goes up on every change of content (a fresh build is version 1).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The same content under another version.
    pub fn with_version(self, version: u64) -> Self {
        Self { version, ..self }
    }

    /// Whether `other` holds exactly the same resources (server listeners included),
    /// whatever the versions.
    pub fn same_content(&self, other: &Snapshot) -> bool {
        self.resources == other.resources && self.inbound == other.inbound
    }

    /// Every resource of a type (one of [`type_url`]'s four), or `None` for another type.
    pub fn resources(&self, type_url: &str) -> Option<&Resources> {
        let index = crate::resource_types::index_of(type_url)?;
        Some(&self.resources[index])
    }

    /// One resource by type and name; server listeners are made on demand.
    pub fn get(&self, type_url: &str, name: &str) -> Option<Cow<'_, Resource>> {
        if let Some(found) = self.resources(type_url)?.get(name) {
            return Some(Cow::Borrowed(found));
        }
        if type_url == type_url::LISTENER {
            return self.server_listener(name);
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests;
