//! The handle side of subscriptions: which resources are watched, shared by all watches of one.
//!
//! The [`Registry`] maps each (type, name) to its live [`Subscription`]. A new watch of a name
//! already watched shares that subscription; the first one tells the ADS task to subscribe, and
//! when the last watch drops the subscription tells it to unsubscribe. Each subscription has an
//! id so that a late unsubscribe never cancels a newer subscription of the same name.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::{mpsc, oneshot, watch};

use super::dump::ConfigDump;
use super::slot::{Slot, XdsResource};
use super::watch::{ResourceState, ResourceWatch};
use crate::xds::decode::ResourceKind;

/// What handles tell the ADS task.
pub(crate) enum Command {
    /// Start watching a resource (or replace the slot of a subscription being dropped).
    Subscribe {
        kind: ResourceKind,
        name: String,
        id: u64,
        slot: Slot,
    },
    /// Stop watching a resource, if `id` is still its subscription.
    Unsubscribe {
        kind: ResourceKind,
        name: String,
        id: u64,
    },
    /// Fill `into` with the cache's content and the stream's state, and send it back.
    Dump {
        into: Box<ConfigDump>,
        reply: oneshot::Sender<Box<ConfigDump>>,
    },
}

type Key = (ResourceKind, String);
/// A `Subscription<T>` of any `T`, not keeping it alive.
type AnySubscription = Weak<dyn Any + Send + Sync>;

/// The live subscriptions of one client.
pub(crate) struct Registry {
    commands: mpsc::UnboundedSender<Command>,
    live: Mutex<HashMap<Key, (u64, AnySubscription)>>,
    next_id: AtomicU64,
}

impl Registry {
    /// A registry that sends its commands to `commands`.
    pub(crate) fn new(commands: mpsc::UnboundedSender<Command>) -> Self {
        Registry {
            commands,
            live: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    /// A watch of `name`, sharing the live subscription if there is one.
    pub(crate) fn watch<T: XdsResource>(self: &Arc<Self>, name: &str) -> ResourceWatch<T> {
        let key = (T::KIND, name.to_string());
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let existing = live.get(&key).and_then(|(_, weak)| weak.upgrade());
        if let Some(subscription) = existing.and_then(|s| s.downcast::<Subscription<T>>().ok()) {
            return ResourceWatch::new(subscription);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(ResourceState::Pending);
        let subscription = Arc::new(Subscription {
            kind: T::KIND,
            name: name.to_string(),
            id,
            receiver,
            registry: Arc::downgrade(self),
        });
        let weak: AnySubscription = Arc::downgrade(&subscription) as _;
        live.insert(key, (id, weak));
        // Fails only once the task has ended; the watch then reports WatchClosed.
        let _ = self.commands.send(Command::Subscribe {
            kind: T::KIND,
            name: name.to_string(),
            id,
            slot: T::slot(sender),
        });
        ResourceWatch::new(subscription)
    }

    fn unsubscribe(&self, kind: ResourceKind, name: &str, id: u64) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (kind, name.to_string());
        if live.get(&key).is_some_and(|(live_id, _)| *live_id == id) {
            live.remove(&key);
        }
        // Sent under the lock, so it is ordered with any newer Subscribe of the same name.
        let _ = self.commands.send(Command::Unsubscribe {
            kind,
            name: name.to_string(),
            id,
        });
    }
}

/// One subscription, shared by all watches of one resource; unsubscribes when dropped.
pub(crate) struct Subscription<T> {
    kind: ResourceKind,
    name: String,
    id: u64,
    receiver: watch::Receiver<ResourceState<T>>,
    registry: Weak<Registry>,
}

impl<T> Subscription<T> {
    /// A receiver of the resource's state.
    pub(crate) fn receiver(&self) -> watch::Receiver<ResourceState<T>> {
        self.receiver.clone()
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            registry.unsubscribe(self.kind, &self.name, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Listener;

    fn registry() -> (Arc<Registry>, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(Registry::new(tx)), rx)
    }

    #[test]
    fn watches_of_one_name_share_a_subscription() {
        let (registry, mut commands) = registry();
        let a = registry.watch::<Listener>("l");
        let b = registry.watch::<Listener>("l");
        let c = a.clone();
        assert!(matches!(
            commands.try_recv(),
            Ok(Command::Subscribe { id: 0, .. })
        ));
        assert!(
            commands.try_recv().is_err(),
            "one subscription for three watches"
        );
        drop((a, b));
        assert!(commands.try_recv().is_err(), "a watch is still alive");
        drop(c);
        assert!(matches!(
            commands.try_recv(),
            Ok(Command::Unsubscribe { id: 0, .. })
        ));
    }

    #[test]
    fn a_new_subscription_survives_a_late_unsubscribe() {
        let (registry, mut commands) = registry();
        drop(registry.watch::<Listener>("l"));
        let _again = registry.watch::<Listener>("l");
        let ids: Vec<_> = std::iter::from_fn(|| commands.try_recv().ok())
            .map(|c| match c {
                Command::Subscribe { id, .. } => ("sub", id),
                Command::Unsubscribe { id, .. } => ("unsub", id),
                Command::Dump { .. } => ("dump", u64::MAX),
            })
            .collect();
        assert_eq!(ids, [("sub", 0), ("unsub", 0), ("sub", 1)]);
        assert_eq!(registry.live.lock().unwrap().len(), 1);
    }
}
