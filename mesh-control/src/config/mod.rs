//! Mesh configuration: Kubernetes-style YAML in, a validated [`MeshConfig`] out.
//!
//! The config is a directory of YAML files holding Kubernetes objects: `Service`s (the services
//! and ports clients dial), `EndpointSlice`s (static addresses), Gateway API `HTTPRoute`s
//! and `GRPCRoute`s attached to Services (the GAMMA mesh pattern) that decide where requests go
//! (HTTPRoute rules may also set `timeouts` and `retry`), and kinds of our own API group
//! `mesh.dev/v1alpha1`: `JoinToken`s (credentials the CA accepts), `TLSPolicy`s (the mTLS mode
//! of Services), `RoutePolicy`s (timeouts, retries and faults of routes), `BackendPolicy`s
//! (balancing, circuit breaking, retry budget and outlier detection of Services),
//! `AuthorizationPolicy`s (which callers may make which calls to a Service's servers) and
//! `RateLimitPolicy`s (how many requests each server of a Service accepts).
//! [`defaults/demo.yaml`](EMBEDDED_DEFAULT_YAML) shows the format with comments.
//!
//! Loading goes in three steps, each its own module:
//!
//! 1. `source`: files are read and cut into YAML documents;
//! 2. `kinds`: each document is read as one object of a known kind, strictly (unknown fields
//!    are errors, so typos are caught);
//! 3. `resolve`: references between objects are checked and the routes of every Service port
//!    are built and ordered, in the domain model's terms.
//!
//! A load reports all of its mistakes at once, each with file, line, object and field
//! ([`ConfigErrors`]). [`watch_dir`] reloads the directory when it changes and publishes each
//! new valid config, keeping the last good one when an edit is invalid.

mod error;
mod kinds;
mod model;
mod reloads;
mod resolve;
mod source;
mod watch;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub(crate) use kinds::meta::{NameRule, check_name};
pub(crate) use model::namespace_prefix;
pub use model::{
    AuthorizationConfig, AuthzRuleConfig, Caller, MeshConfig, PortConfig, ServiceConfig,
    ServiceRef, ServiceTls, TlsMode, WorkloadIdentity,
};
pub use reloads::{ReloadFailure, Reloads};
pub use watch::{WatchError, watch_dir};

/// The embedded default config (the serviceA -> serviceB demo), as YAML text.
pub const EMBEDDED_DEFAULT_YAML: &str = include_str!("../../defaults/demo.yaml");

/// The file name errors in the embedded default would name.
const EMBEDDED_DEFAULT_NAME: &str = "defaults/demo.yaml";

/// Loads every `*.yaml` and `*.yml` file of `dir` (not subdirectories, not hidden files), in
/// name order.
pub fn load_dir(dir: &Path) -> Result<MeshConfig, ConfigErrors> {
    let sources = source::read_dir(dir)?;
    load_documents(&sources)
}

/// Loads config files given as `(file name, text)`; the names only appear in errors.
pub fn load_documents(sources: &[(String, String)]) -> Result<MeshConfig, ConfigErrors> {
    let mut errors = Vec::new();
    let mut objects = Vec::new();
    for (file, text) in sources {
        for document in source::split_documents(file, text) {
            objects.extend(kinds::parse_document(&document, &mut errors));
        }
    }
    let config = resolve::resolve(objects, &mut errors);
    match ConfigErrors::from_vec(errors) {
        Some(errors) => Err(errors),
        None => Ok(config),
    }
}

/// The embedded default config, [`EMBEDDED_DEFAULT_YAML`], loaded.
pub fn embedded_default() -> MeshConfig {
    let sources = [(
        EMBEDDED_DEFAULT_NAME.to_string(),
        EMBEDDED_DEFAULT_YAML.to_string(),
    )];
    // A unit test loads the embedded text, so this cannot fail in a released build.
    load_documents(&sources)
        .unwrap_or_else(|errors| panic!("the embedded default config is invalid:\n{errors}"))
}

#[cfg(test)]
mod tests;
