//! Per-client status: who is connected and what each client made of what we sent.
//!
//! Every ADS stream holds a [`ClientEntry`] for its lifetime; [`ClientRegistry::map_clients`]
//! reads them for the admin endpoint and the `status` CLI. Per resource type we keep what we
//! last sent (version, nonce, resource names) and what the client answered, from which
//! [`TypeStatus::state`] derives SYNCED, STALE or NACKED, as `istioctl proxy-status` shows.
//! A response is told apart by its nonce: a version can be sent twice (after a change of
//! subscribed names), a nonce cannot.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// The status of one connected client (one ADS stream).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientStatus {
    /// The node id from the client's bootstrap.
    pub node_id: String,
    /// The SPIFFE ID of the client's certificate, when the stream is mTLS.
    pub peer_identity: Option<String>,
    /// When the stream started.
    pub connected_since: SystemTime,
    /// What the client made of our responses, indexed like
    /// [`RESOURCE_TYPES`](crate::resource_types::RESOURCE_TYPES).
    pub types: [TypeStatus; 4],
}

/// What we sent a client of one type, and what it said of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The version of our last response (for display: the state goes by nonce).
    pub sent_version: Option<String>,
    /// The nonce of our last response.
    pub sent_nonce: Option<String>,
    /// The names of the resources in our last response.
    pub sent_names: Vec<Arc<str>>,
    /// The version of the last response it accepted (ACKed).
    pub acked_version: Option<String>,
    /// The nonce of the last response it accepted.
    pub acked_nonce: Option<String>,
    /// Its last rejection (NACK), if any since the stream started.
    pub last_nack: Option<Nack>,
    /// Whether a NACK came after the last ACK.
    pub nacked: bool,
}

/// How a client stands with the resources of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SyncState {
    /// It ACKed the last response sent.
    Synced,
    /// It has not answered the last response sent yet.
    Stale,
    /// It rejected a response and has ACKed nothing since.
    Nacked,
}

impl std::fmt::Display for SyncState {
    /// The same words as in JSON: `SYNCED`, `STALE`, `NACKED`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SyncState::Synced => "SYNCED",
            SyncState::Stale => "STALE",
            SyncState::Nacked => "NACKED",
        })
    }
}

impl TypeStatus {
    /// The state, or `None` if nothing of this type was sent.
    pub fn state(&self) -> Option<SyncState> {
        let sent = self.sent_nonce.as_ref()?;
        Some(if self.nacked {
            SyncState::Nacked
        } else if self.acked_nonce.as_ref() == Some(sent) {
            SyncState::Synced
        } else {
            SyncState::Stale
        })
    }
}

/// A response a client rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    /// The version of the rejected response.
    pub version: String,
    /// The nonce of the rejected response.
    pub nonce: String,
    /// The client's reason.
    pub message: String,
}

/// The status of every connected client. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ClientRegistry {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, ClientStatus>>,
}

impl Inner {
    fn clients(&self) -> MutexGuard<'_, BTreeMap<u64, ClientStatus>> {
        // Status is plain data: a panic elsewhere leaves it usable.
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// `f` of every connected client, oldest stream first, read in place (under the lock:
    /// keep `f` short).
    pub fn map_clients<T>(&self, f: impl FnMut(&ClientStatus) -> T) -> Vec<T> {
        self.inner.clients().values().map(f).collect()
    }

    /// `f` of the newest stream of `node_id`, if one is connected.
    pub fn map_newest<T>(&self, node_id: &str, f: impl FnOnce(&ClientStatus) -> T) -> Option<T> {
        let clients = self.inner.clients();
        clients.values().rev().find(|c| c.node_id == node_id).map(f)
    }

    /// Adds a client (with the SPIFFE ID of its certificate on an mTLS stream); it is
    /// removed when the entry is dropped.
    pub(crate) fn connect(&self, node_id: &str, peer_identity: Option<String>) -> ClientEntry {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.clients().insert(
            id,
            ClientStatus {
                node_id: node_id.to_string(),
                peer_identity,
                connected_since: SystemTime::now(),
                types: Default::default(),
            },
        );
        ClientEntry {
            id,
            inner: Arc::clone(&self.inner),
        }
    }
}

/// One stream's place in the [`ClientRegistry`]. Types are given by their index in
/// [`RESOURCE_TYPES`](crate::resource_types::RESOURCE_TYPES).
#[derive(Debug)]
pub(crate) struct ClientEntry {
    id: u64,
    inner: Arc<Inner>,
}

impl ClientEntry {
    /// Records that we sent `version` of a type under `nonce`, holding the resources `names`.
    pub(crate) fn sent(&self, index: usize, version: &str, nonce: &str, names: Vec<Arc<str>>) {
        self.update(index, |t| {
            t.sent_version = Some(version.to_string());
            t.sent_nonce = Some(nonce.to_string());
            t.sent_names = names;
        });
    }

    /// Records that the client accepted the response `nonce` of a type, as `version`.
    pub(crate) fn ack(&self, index: usize, nonce: &str, version: &str) {
        self.update(index, |t| {
            t.acked_version = Some(version.to_string());
            t.acked_nonce = Some(nonce.to_string());
            t.nacked = false;
        });
    }

    /// Records that the client rejected a response of a type.
    pub(crate) fn nack(&self, index: usize, nack: Nack) {
        self.update(index, |t| {
            t.last_nack = Some(nack);
            t.nacked = true;
        });
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut TypeStatus)) {
        if let Some(status) = self
            .inner
            .clients()
            .get_mut(&self.id)
            .and_then(|client| client.types.get_mut(index))
        {
            f(status);
        }
    }
}

impl Drop for ClientEntry {
    fn drop(&mut self) {
        self.inner.clients().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(registry: &ClientRegistry) -> TypeStatus {
        registry
            .map_newest("node-1", |c| c.types[0].clone())
            .expect("connected")
    }

    fn nack(nonce: &str) -> Nack {
        Nack {
            version: "4".into(),
            nonce: nonce.into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn entries_record_and_leave() {
        let registry = ClientRegistry::new();
        let entry = registry.connect("node-1", None);
        assert_eq!(status(&registry).state(), None);
        entry.sent(0, "3", "1", vec!["a".into()]);
        assert_eq!(status(&registry).state(), Some(SyncState::Stale));
        entry.ack(0, "1", "3");
        assert_eq!(status(&registry).state(), Some(SyncState::Synced));
        entry.sent(0, "4", "2", vec!["a".into(), "b".into()]);
        entry.nack(0, nack("2"));
        assert_eq!(status(&registry).state(), Some(SyncState::Nacked));
        // A newer push does not hide the rejection; its ACK does.
        entry.sent(0, "5", "3", vec!["a".into()]);
        assert_eq!(status(&registry).state(), Some(SyncState::Nacked));
        entry.ack(0, "3", "5");
        let status = status(&registry);
        assert_eq!(status.state(), Some(SyncState::Synced));
        assert_eq!(status.acked_version.as_deref(), Some("5"));
        assert_eq!(status.sent_names, [Arc::from("a")]);
        assert_eq!(status.last_nack, Some(nack("2")));
        drop(entry);
        assert!(registry.map_clients(|c| c.node_id.clone()).is_empty());
    }

    #[test]
    fn synced_goes_by_nonce_not_version() {
        let registry = ClientRegistry::new();
        let entry = registry.connect("node-1", None);
        entry.sent(0, "3", "1", vec!["a".into()]);
        entry.ack(0, "1", "3");
        // Same version, other names (a subscription change): not ACKed yet.
        entry.sent(0, "3", "2", vec!["a".into(), "b".into()]);
        assert_eq!(status(&registry).state(), Some(SyncState::Stale));
        entry.ack(0, "2", "3");
        assert_eq!(status(&registry).state(), Some(SyncState::Synced));
    }

    #[test]
    fn the_newest_stream_of_a_node_is_found() {
        let registry = ClientRegistry::new();
        let _old = registry.connect("node-1", None);
        let _new = registry.connect("node-1", Some("spiffe://td/ns/a/sa/b".into()));
        let _other = registry.connect("node-2", None);
        let found = registry.map_newest("node-1", |c| c.peer_identity.clone());
        assert_eq!(found, Some(Some("spiffe://td/ns/a/sa/b".into())));
        assert_eq!(registry.map_newest("node-3", |_| ()), None);
        assert_eq!(registry.map_clients(|c| c.node_id.clone()).len(), 3);
    }

    #[test]
    fn the_state_reads_as_in_json() {
        for state in [SyncState::Synced, SyncState::Stale, SyncState::Nacked] {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{state}\""));
        }
    }
}
