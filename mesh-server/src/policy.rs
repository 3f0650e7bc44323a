//! The inbound policies in force: who may call (authorization) and how often (rate limit).
//!
//! [`MeshServer`](crate::MeshServer) takes them from its inbound xDS listener and publishes each
//! new version through a `watch` channel; [`AuthzLayer`](crate::AuthzLayer) and
//! [`RateLimitLayer`](crate::RateLimitLayer) read the current version on every call, so a change
//! applies to the next call without touching calls in flight.

use std::sync::Arc;

use mesh_core::model::{Authorization, LocalRateLimit, ServerListener};
use tokio::sync::watch;

/// The policies a server applies to its inbound calls; `None`: no such policy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InboundPolicy {
    /// Which calls are accepted, by caller and request.
    pub authorization: Option<Authorization>,
    /// How many calls are accepted.
    pub rate_limit: Option<LocalRateLimit>,
}

impl InboundPolicy {
    /// The policies an inbound listener carries.
    pub fn of(listener: &ServerListener) -> Self {
        Self {
            authorization: listener.authorization.clone(),
            rate_limit: listener.rate_limit,
        }
    }

    /// A receiver that always sees `self`, for layers with a fixed policy.
    pub(crate) fn fixed(self) -> watch::Receiver<Arc<InboundPolicy>> {
        watch::channel(Arc::new(self)).1
    }
}
