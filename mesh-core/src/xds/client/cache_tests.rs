use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::model::{self, ClientListener, RouteSource};
use crate::xds::client::watch::ResourceState;

type Rx<T> = watch::Receiver<ResourceState<T>>;

fn listener_slot() -> (Slot, Rx<model::Listener>) {
    let (tx, rx) = watch::channel(ResourceState::Pending);
    (Slot::Listener(tx), rx)
}

fn route_slot() -> (Slot, Rx<model::RouteConfig>) {
    let (tx, rx) = watch::channel(ResourceState::Pending);
    (Slot::RouteConfig(tx), rx)
}

fn listener(name: &str, route: &str) -> Result<Resource, DecodeError> {
    Ok(Resource::Listener(model::Listener::Client(
        ClientListener {
            name: name.into(),
            routes: RouteSource::Rds(route.into()),
        },
    )))
}

fn invalid(name: &str) -> Result<Resource, DecodeError> {
    Err(DecodeError {
        kind: "Listener",
        resource: name.into(),
        field: "f".into(),
        reason: "bad".into(),
    })
}

fn route_of(rx: &Rx<model::Listener>) -> Option<String> {
    match &*rx.borrow() {
        ResourceState::Present(l) => match &**l {
            model::Listener::Client(c) => match &c.routes {
                RouteSource::Rds(r) => Some(r.clone()),
                RouteSource::Inline(_) => None,
            },
            model::Listener::Server(_) => None,
        },
        _ => None,
    }
}

#[test]
fn subscriptions_by_name_and_id() {
    let mut cache = Cache::default();
    assert!(cache.subscribe(ResourceKind::Listener, "b".into(), 1, listener_slot().0));
    assert!(cache.subscribe(ResourceKind::Listener, "a".into(), 2, listener_slot().0));
    assert_eq!(cache.names(ResourceKind::Listener), ["a", "b"]);
    assert!(
        !cache.unsubscribe(ResourceKind::Listener, "a", 1),
        "not its id"
    );
    assert!(
        !cache.subscribe(ResourceKind::Listener, "a".into(), 3, listener_slot().0),
        "replaced"
    );
    assert!(
        !cache.unsubscribe(ResourceKind::Listener, "a", 2),
        "the old id no longer counts"
    );
    assert!(cache.unsubscribe(ResourceKind::Listener, "a", 3));
    assert_eq!(cache.names(ResourceKind::Listener), ["b"]);
    assert!(cache.names(ResourceKind::Cluster).is_empty());
}

#[test]
fn valid_response_is_applied_and_acked() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    let errors = cache.apply(
        ResourceKind::Listener,
        "v1",
        vec![listener("l", "r1"), listener("other", "r")],
    );
    assert!(errors.is_empty());
    assert_eq!(route_of(&rx).as_deref(), Some("r1"));
    assert_eq!(cache.version(ResourceKind::Listener), "v1");
    assert_eq!(
        cache.names(ResourceKind::Listener),
        ["l"],
        "unsubscribed resources are ignored"
    );
}

#[test]
fn invalid_resource_keeps_the_old_value_and_version() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    let (other, other_rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    cache.subscribe(ResourceKind::Listener, "m".into(), 1, other);
    cache.apply(
        ResourceKind::Listener,
        "v1",
        vec![listener("l", "r1"), listener("m", "r1")],
    );
    let errors = cache.apply(
        ResourceKind::Listener,
        "v2",
        vec![invalid("l"), listener("m", "r2")],
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(route_of(&rx).as_deref(), Some("r1"), "old value kept");
    assert_eq!(
        route_of(&other_rx).as_deref(),
        Some("r2"),
        "valid resources still applied"
    );
    assert_eq!(
        cache.version(ResourceKind::Listener),
        "v1",
        "NACK keeps the old version"
    );
}

#[test]
fn missing_listener_does_not_exist_but_missing_route_is_kept() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    cache.apply(ResourceKind::Listener, "v1", vec![listener("l", "r1")]);
    cache.apply(ResourceKind::Listener, "v2", vec![]);
    assert!(matches!(*rx.borrow(), ResourceState::DoesNotExist));

    let (slot, route_rx) = route_slot();
    cache.subscribe(ResourceKind::RouteConfig, "r".into(), 1, slot);
    cache.apply(ResourceKind::RouteConfig, "v1", vec![]);
    assert!(
        matches!(*route_rx.borrow(), ResourceState::Pending),
        "RDS is not state of the world"
    );
}

#[test]
fn a_listener_never_received_is_not_deleted_by_a_response_without_it() {
    // The response may answer a request sent before "new" was asked for: only the
    // does-not-exist timer may decide that "new" does not exist.
    let mut cache = Cache::default();
    let (old, _old_rx) = listener_slot();
    let (new, new_rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "old".into(), 0, old);
    cache.subscribe(ResourceKind::Listener, "new".into(), 1, new);
    cache.apply(ResourceKind::Listener, "v1", vec![listener("old", "r1")]);
    assert!(matches!(*new_rx.borrow(), ResourceState::Pending));
    cache.apply(
        ResourceKind::Listener,
        "v2",
        vec![listener("old", "r1"), listener("new", "r2")],
    );
    assert_eq!(route_of(&new_rx).as_deref(), Some("r2"));
}

#[test]
fn unnamed_broken_resource_deletes_nothing() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    cache.apply(ResourceKind::Listener, "v1", vec![listener("l", "r1")]);
    let errors = cache.apply(ResourceKind::Listener, "v2", vec![invalid("")]);
    assert_eq!(errors.len(), 1);
    assert_eq!(route_of(&rx).as_deref(), Some("r1"));
}

#[test]
fn timers_fire_only_for_unanswered_subscriptions() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    let (answered, answered_rx) = route_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    cache.subscribe(ResourceKind::RouteConfig, "r".into(), 1, answered);
    assert_eq!(
        cache.next_deadline(),
        None,
        "no timer before a request on a live stream"
    );

    let start = Instant::now();
    let deadline = start + Duration::from_secs(15);
    cache.start_timers(ResourceKind::Listener, deadline);
    cache.start_timers(ResourceKind::RouteConfig, deadline);
    assert_eq!(cache.next_deadline(), Some(deadline));
    let route = Ok(Resource::RouteConfig(model::RouteConfig {
        name: "r".into(),
        virtual_hosts: vec![],
    }));
    cache.apply(ResourceKind::RouteConfig, "v1", vec![route]);

    cache.expire(deadline - Duration::from_millis(1));
    assert!(matches!(*rx.borrow(), ResourceState::Pending), "not yet");
    cache.expire(deadline);
    assert!(matches!(*rx.borrow(), ResourceState::DoesNotExist));
    assert!(matches!(*answered_rx.borrow(), ResourceState::Present(_)));
    assert_eq!(cache.next_deadline(), None);
}

#[test]
fn stopped_timers_restart_from_scratch() {
    let mut cache = Cache::default();
    let (slot, rx) = listener_slot();
    cache.subscribe(ResourceKind::Listener, "l".into(), 0, slot);
    let first = Instant::now() + Duration::from_secs(15);
    cache.start_timers(ResourceKind::Listener, first);
    cache.stop_timers();
    assert_eq!(cache.next_deadline(), None);
    cache.expire(first);
    assert!(
        matches!(*rx.borrow(), ResourceState::Pending),
        "a stopped timer never fires"
    );
    let second = first + Duration::from_secs(5);
    cache.start_timers(ResourceKind::Listener, second);
    assert_eq!(cache.next_deadline(), Some(second));
}
