//! What a subscriber holds: the state of one resource, and a way to wait for it to change.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use super::subscription::Subscription;

/// What the client knows of one resource.
#[derive(Debug)]
pub enum ResourceState<T> {
    /// Asked for; no answer yet.
    Pending,
    /// The last valid version the control service sent. Kept when the control service becomes
    /// unreachable (fail static) or sends an invalid update (which is NACKed).
    Present(Arc<T>),
    /// The control service says it does not exist: it was missing from a Listener or Cluster
    /// response, or nothing came within 15 s of asking.
    DoesNotExist,
}

impl<T> Clone for ResourceState<T> {
    fn clone(&self) -> Self {
        match self {
            ResourceState::Pending => ResourceState::Pending,
            ResourceState::Present(value) => ResourceState::Present(Arc::clone(value)),
            ResourceState::DoesNotExist => ResourceState::DoesNotExist,
        }
    }
}

impl<T> ResourceState<T> {
    /// The resource, if present.
    pub fn present(&self) -> Option<&Arc<T>> {
        match self {
            ResourceState::Present(value) => Some(value),
            _ => None,
        }
    }
}

/// The client that fed a watch has shut down: no more changes will come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the xDS client shut down: every XdsClient handle was dropped")]
pub struct WatchClosed;

/// A subscription to one resource, from [`XdsClient`](super::XdsClient).
///
/// Clones, and other watches of the same type and name, share one subscription and see the same
/// state. When the last one is dropped, the client unsubscribes from the resource.
pub struct ResourceWatch<T> {
    receiver: watch::Receiver<ResourceState<T>>,
    _subscription: Arc<Subscription<T>>,
}

impl<T> ResourceWatch<T> {
    pub(crate) fn new(subscription: Arc<Subscription<T>>) -> Self {
        ResourceWatch {
            receiver: subscription.receiver(),
            _subscription: subscription,
        }
    }

    /// The state now.
    pub fn current(&self) -> ResourceState<T> {
        self.receiver.borrow().clone()
    }

    /// Waits until the state changes from the one this watch last saw through `changed` or
    /// `ready` (a new watch has seen the state it started with; clones share what was seen).
    pub async fn changed(&mut self) -> Result<(), WatchClosed> {
        self.receiver.changed().await.map_err(|_| WatchClosed)
    }

    /// Waits until the state is no longer [`ResourceState::Pending`], and returns it. Returns
    /// `Pending` only if the client shut down first.
    pub async fn ready(&mut self) -> ResourceState<T> {
        match self
            .receiver
            .wait_for(|s| !matches!(s, ResourceState::Pending))
            .await
        {
            Ok(state) => state.clone(),
            Err(_) => ResourceState::Pending,
        }
    }
}

impl<T> Clone for ResourceWatch<T> {
    fn clone(&self) -> Self {
        ResourceWatch {
            receiver: self.receiver.clone(),
            _subscription: Arc::clone(&self._subscription),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for ResourceWatch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceWatch")
            .field("state", &*self.receiver.borrow())
            .finish()
    }
}
