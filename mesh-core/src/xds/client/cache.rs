//! The ADS task's view of every subscription: state of the world per resource type.
//!
//! Per type it keeps the last ACKed version and, per subscribed name, the [`Slot`] that feeds
//! the watches and the does-not-exist timer. Applying a response follows gRFCs A27 and A46:
//! valid resources replace the previous value, invalid ones keep it (the response is NACKed),
//! and a Listener or Cluster received before and missing from a response no longer exists (one
//! never received waits for its does-not-exist timer). Nothing here
//! is cleared when the stream breaks: the last good state stays (fail static).

use std::collections::{BTreeMap, HashMap, HashSet};

use tokio::time::Instant;

use super::dump::{ConfigDump, Nack, ResourceDump, TypeDump};
use super::slot::{Slot, XdsResource};
use crate::xds::decode::{DecodeError, Resource, ResourceKind};

/// Every subscription of the client, by type and name.
#[derive(Default)]
pub(crate) struct Cache {
    kinds: HashMap<ResourceKind, KindState>,
}

#[derive(Default)]
struct KindState {
    /// The version of the last response ACKed ("" before the first).
    version: String,
    /// The latest response, if it was NACKed.
    last_nack: Option<Nack>,
    entries: BTreeMap<String, Entry>,
}

struct Entry {
    id: u64,
    slot: Slot,
    timer: Timer,
}

/// The does-not-exist timer of one subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Not running: not yet asked for on a live stream.
    Idle,
    /// Asked for; becomes DoesNotExist at this instant unless an answer comes.
    Running(Instant),
    /// The server answered (with the resource, an invalid one, or its absence).
    Done,
}

impl Cache {
    /// Adds a subscription; true if the name is new (the request must change).
    pub(crate) fn subscribe(
        &mut self,
        kind: ResourceKind,
        name: String,
        id: u64,
        slot: Slot,
    ) -> bool {
        let entries = &mut self.kinds.entry(kind).or_default().entries;
        if let Some(entry) = entries.get_mut(&name) {
            // A watch dropped and came back before its unsubscribe arrived: keep what we know.
            slot.adopt(&entry.slot);
            entry.id = id;
            entry.slot = slot;
            return false;
        }
        entries.insert(
            name,
            Entry {
                id,
                slot,
                timer: Timer::Idle,
            },
        );
        true
    }

    /// Removes a subscription if `id` is still its own; true if removed.
    pub(crate) fn unsubscribe(&mut self, kind: ResourceKind, name: &str, id: u64) -> bool {
        let Some(state) = self.kinds.get_mut(&kind) else {
            return false;
        };
        if state.entries.get(name).is_some_and(|e| e.id == id) {
            state.entries.remove(name);
            return true;
        }
        false
    }

    /// The subscribed names of `kind`, sorted.
    pub(crate) fn names(&self, kind: ResourceKind) -> Vec<String> {
        self.kinds
            .get(&kind)
            .map(|s| s.entries.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The last ACKed version of `kind`.
    pub(crate) fn version(&self, kind: ResourceKind) -> &str {
        self.kinds.get(&kind).map_or("", |s| &s.version)
    }

    /// How many subscriptions of `kind` hold a valid value.
    pub(crate) fn present(&self, kind: ResourceKind) -> usize {
        self.kinds.get(&kind).map_or(0, |s| {
            s.entries.values().filter(|e| e.slot.is_present()).count()
        })
    }

    /// Records the outcome of the latest response of `kind`: its NACK, or `None` once accepted.
    pub(crate) fn set_last_nack(&mut self, kind: ResourceKind, nack: Option<Nack>) {
        self.kinds.entry(kind).or_default().last_nack = nack;
    }

    /// Puts every subscription into `dump`.
    pub(crate) fn fill(&self, dump: &mut ConfigDump) {
        dump.listeners = self.dump();
        dump.route_configs = self.dump();
        dump.clusters = self.dump();
        dump.endpoints = self.dump();
    }

    /// The subscriptions of `T`'s kind.
    fn dump<T: XdsResource>(&self) -> TypeDump<T> {
        let Some(state) = self.kinds.get(&T::KIND) else {
            return TypeDump::empty();
        };
        let mut dump = TypeDump::empty();
        dump.version = state.version.clone();
        dump.last_nack = state.last_nack.clone();
        dump.resources = state
            .entries
            .iter()
            .filter_map(|(name, e)| Some(ResourceDump::new(name.clone(), T::state(&e.slot)?)))
            .collect();
        dump
    }

    /// Applies a response of `kind`; returns the errors of its invalid resources (empty: ACK).
    pub(crate) fn apply(
        &mut self,
        kind: ResourceKind,
        version: &str,
        resources: Vec<Result<Resource, DecodeError>>,
    ) -> Vec<DecodeError> {
        let state = self.kinds.entry(kind).or_default();
        let mut errors = Vec::new();
        let mut answered = HashSet::new();
        for result in resources {
            match result {
                Ok(resource) => {
                    let name = resource.name().to_string();
                    match state.entries.get_mut(&name) {
                        Some(entry) => {
                            entry.slot.publish(resource);
                            entry.timer = Timer::Done;
                        }
                        None => {
                            tracing::debug!(?kind, %name, "ignoring an xDS resource not subscribed to")
                        }
                    }
                    answered.insert(name);
                }
                Err(error) => {
                    // The previous value stays; the resource exists, so no does-not-exist timer.
                    if let Some(entry) = state.entries.get_mut(&error.resource) {
                        entry.timer = Timer::Done;
                    }
                    answered.insert(error.resource.clone());
                    errors.push(error);
                }
            }
        }
        // State of the world: a Listener or Cluster that was received before and is left out now
        // was deleted. One never received yet is not: this response may answer a request sent
        // before it was asked for (requests and responses cross on the stream), so only the
        // does-not-exist timer decides that it does not exist (as grpc-go does). When a
        // resource is too broken to have a name, it may be any of them, so nothing is deleted.
        let unnamed = errors.iter().any(|e| e.resource.is_empty());
        if matches!(kind, ResourceKind::Listener | ResourceKind::Cluster) && !unnamed {
            for (name, entry) in &mut state.entries {
                if !answered.contains(name) && !entry.slot.is_pending() {
                    entry.slot.set_does_not_exist();
                    entry.timer = Timer::Done;
                }
            }
        }
        if errors.is_empty() {
            state.version = version.to_string();
        }
        errors
    }

    /// Starts the timers of the subscriptions of `kind` never asked for on a live stream.
    pub(crate) fn start_timers(&mut self, kind: ResourceKind, deadline: Instant) {
        for entry in self
            .kinds
            .get_mut(&kind)
            .into_iter()
            .flat_map(|s| s.entries.values_mut())
        {
            if entry.timer == Timer::Idle && entry.slot.is_pending() {
                entry.timer = Timer::Running(deadline);
            }
        }
    }

    /// Stops every running timer: the stream is gone, so silence means nothing.
    pub(crate) fn stop_timers(&mut self) {
        for entry in self.kinds.values_mut().flat_map(|s| s.entries.values_mut()) {
            if let Timer::Running(_) = entry.timer {
                entry.timer = Timer::Idle;
            }
        }
    }

    /// When the next timer fires.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.kinds
            .values()
            .flat_map(|s| s.entries.values())
            .filter_map(|e| match e.timer {
                Timer::Running(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Marks as not existing every subscription whose timer fired by `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        for (kind, state) in &mut self.kinds {
            for (name, entry) in &mut state.entries {
                if matches!(entry.timer, Timer::Running(at) if at <= now) {
                    tracing::info!(?kind, %name, "no xDS answer in time; the resource does not exist");
                    entry.slot.set_does_not_exist();
                    entry.timer = Timer::Done;
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
