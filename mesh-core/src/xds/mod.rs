//! The xDS v3 edge of the mesh.
//!
//! - `client`: the ADS client an app uses (one stream, subscriptions, ACK/NACK, reconnect,
//!   last-known-good cache, watch channels).
//! - `decode`: wire resources to validated [`crate::model`] types (used by the client).
//! - `encode`: model types to wire resources (used by mesh-control).
//! - `json`: `google.protobuf.Struct` <-> JSON, for node metadata.

pub mod client;
pub mod decode;
pub mod encode;
pub mod json;
pub mod type_url;

pub use client::{ResourceState, ResourceWatch, XdsClient, XdsClientBuilder};
