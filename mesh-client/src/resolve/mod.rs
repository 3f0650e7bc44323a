//! Resolution: following a target's xDS resources to a route table.
//!
//! A background task per target follows the chain gRPC follows: Listener -> RouteConfiguration
//! (over RDS, or inline) -> the virtual host serving the target -> the Clusters its routes name
//! -> their ClusterLoadAssignments. It subscribes and unsubscribes as routes change, and
//! publishes a [`Resolution`] on a watch channel whenever the whole chain is known, so requests
//! never see a half-updated config ([`build`] makes the table; [`task`] keeps the subscriptions).
//! The resolvers of one client share their clusters' states ([`registry`]).
//!
//! Fail static: when the control service is unreachable the xDS client keeps its resources, so
//! nothing changes here. The task ends when every receiver is gone, which drops its watches and
//! so unsubscribes.

mod build;
mod registry;
mod task;

pub(crate) use build::Resolution;
#[cfg(test)]
pub(crate) use build::{ClusterInput, TableBuilder, Unresolved};
pub(crate) use registry::ClusterRegistry;
pub(crate) use task::spawn;
