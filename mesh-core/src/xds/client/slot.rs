//! Type erasure over the four resource types: the sending side of one resource's watch channel.
//!
//! The ADS task handles every resource type alike; a [`Slot`] is a closed enum over the four
//! typed channels, so it can publish a decoded [`Resource`] into the right one without any
//! downcasting.

use std::sync::Arc;

use tokio::sync::watch;

use super::watch::ResourceState;
use crate::model;
use crate::xds::decode::{Resource, ResourceKind};

/// A model type the client can watch.
pub(crate) trait XdsResource: Send + Sync + 'static {
    /// Its resource kind.
    const KIND: ResourceKind;
    /// Wraps the sender of its watch channel.
    fn slot(sender: watch::Sender<ResourceState<Self>>) -> Slot
    where
        Self: Sized;
    /// The state in `slot`, if it is a slot of this type.
    fn state(slot: &Slot) -> Option<ResourceState<Self>>
    where
        Self: Sized;
}

/// The sending side of one resource's watch channel.
pub(crate) enum Slot {
    Listener(watch::Sender<ResourceState<model::Listener>>),
    RouteConfig(watch::Sender<ResourceState<model::RouteConfig>>),
    Cluster(watch::Sender<ResourceState<model::Cluster>>),
    Endpoints(watch::Sender<ResourceState<model::ClusterLoadAssignment>>),
}

macro_rules! resource {
    ($model:ty, $kind:ident) => {
        impl XdsResource for $model {
            const KIND: ResourceKind = ResourceKind::$kind;
            fn slot(sender: watch::Sender<ResourceState<Self>>) -> Slot {
                Slot::$kind(sender)
            }
            fn state(slot: &Slot) -> Option<ResourceState<Self>> {
                match slot {
                    Slot::$kind(tx) => Some(tx.borrow().clone()),
                    _ => None,
                }
            }
        }
    };
}

resource!(model::Listener, Listener);
resource!(model::RouteConfig, RouteConfig);
resource!(model::Cluster, Cluster);
resource!(model::ClusterLoadAssignment, Endpoints);

impl Slot {
    /// Publishes a new version of the resource; watchers wake only if it differs.
    pub(crate) fn publish(&self, resource: Resource) {
        match (self, resource) {
            (Slot::Listener(tx), Resource::Listener(v)) => present(tx, v),
            (Slot::RouteConfig(tx), Resource::RouteConfig(v)) => present(tx, v),
            (Slot::Cluster(tx), Resource::Cluster(v)) => present(tx, v),
            (Slot::Endpoints(tx), Resource::Endpoints(v)) => present(tx, v),
            (_, resource) => {
                tracing::error!(
                    name = resource.name(),
                    "xDS resource of the wrong type for its subscription; ignored"
                )
            }
        }
    }

    /// Marks the resource as not existing.
    pub(crate) fn set_does_not_exist(&self) {
        match self {
            Slot::Listener(tx) => does_not_exist(tx),
            Slot::RouteConfig(tx) => does_not_exist(tx),
            Slot::Cluster(tx) => does_not_exist(tx),
            Slot::Endpoints(tx) => does_not_exist(tx),
        }
    }

    /// Whether no answer came yet.
    pub(crate) fn is_pending(&self) -> bool {
        match self {
            Slot::Listener(tx) => pending(tx),
            Slot::RouteConfig(tx) => pending(tx),
            Slot::Cluster(tx) => pending(tx),
            Slot::Endpoints(tx) => pending(tx),
        }
    }

    /// Whether it holds a valid value.
    pub(crate) fn is_present(&self) -> bool {
        match self {
            Slot::Listener(tx) => present_now(tx),
            Slot::RouteConfig(tx) => present_now(tx),
            Slot::Cluster(tx) => present_now(tx),
            Slot::Endpoints(tx) => present_now(tx),
        }
    }

    /// Takes over the state of `old`, a slot for the same resource that this one replaces.
    pub(crate) fn adopt(&self, old: &Slot) {
        match (self, old) {
            (Slot::Listener(tx), Slot::Listener(old)) => copy(tx, old),
            (Slot::RouteConfig(tx), Slot::RouteConfig(old)) => copy(tx, old),
            (Slot::Cluster(tx), Slot::Cluster(old)) => copy(tx, old),
            (Slot::Endpoints(tx), Slot::Endpoints(old)) => copy(tx, old),
            _ => {}
        }
    }
}

fn present<T: PartialEq>(tx: &watch::Sender<ResourceState<T>>, value: T) {
    tx.send_if_modified(|state| match state {
        ResourceState::Present(old) if **old == value => false,
        _ => {
            *state = ResourceState::Present(Arc::new(value));
            true
        }
    });
}

fn copy<T>(tx: &watch::Sender<ResourceState<T>>, from: &watch::Sender<ResourceState<T>>) {
    tx.send_replace(from.borrow().clone());
}

fn does_not_exist<T>(tx: &watch::Sender<ResourceState<T>>) {
    tx.send_if_modified(|state| {
        let changed = !matches!(state, ResourceState::DoesNotExist);
        *state = ResourceState::DoesNotExist;
        changed
    });
}

fn present_now<T>(tx: &watch::Sender<ResourceState<T>>) -> bool {
    matches!(*tx.borrow(), ResourceState::Present(_))
}

fn pending<T>(tx: &watch::Sender<ResourceState<T>>) -> bool {
    matches!(*tx.borrow(), ResourceState::Pending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientListener, Listener, RouteSource};

    fn listener(route: &str) -> Listener {
        Listener::Client(ClientListener {
            name: "l".into(),
            routes: RouteSource::Rds(route.into()),
        })
    }

    #[test]
    fn publishes_only_changes() {
        let (tx, mut rx) = watch::channel(ResourceState::Pending);
        let slot = Slot::Listener(tx);
        assert!(slot.is_pending());
        slot.publish(Resource::Listener(listener("r")));
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        slot.publish(Resource::Listener(listener("r")));
        assert!(!rx.has_changed().unwrap(), "same value: no wake-up");
        slot.set_does_not_exist();
        assert!(matches!(
            *rx.borrow_and_update(),
            ResourceState::DoesNotExist
        ));
        slot.set_does_not_exist();
        assert!(!rx.has_changed().unwrap());
    }

    #[test]
    fn adopts_the_state_of_the_slot_it_replaces() {
        let (old, _old_rx) = watch::channel(ResourceState::Pending);
        let old = Slot::Listener(old);
        old.publish(Resource::Listener(listener("r")));
        let (tx, rx) = watch::channel(ResourceState::Pending);
        Slot::Listener(tx).adopt(&old);
        assert_eq!(
            rx.borrow().present().map(|l| (**l).clone()),
            Some(listener("r"))
        );
    }
}
