//! Per-client status: who is connected and what each client made of what we sent.
//!
//! Every ADS stream holds a [`ClientEntry`] for its lifetime; [`ClientRegistry::clients`]
//! lists them for the admin endpoint and the `status` CLI. Per resource type we keep what we
//! last sent (version, nonce, resource names) and what the client said of it, from which
//! [`TypeStatus::state`] derives SYNCED, STALE or NACKED, as `istioctl proxy-status` shows.

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
    /// Per type URL, what the client said of our responses.
    pub types: BTreeMap<String, TypeStatus>,
}

/// What we sent a client of one type, and what it said of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The version of our last response.
    pub sent_version: Option<String>,
    /// The names of the resources in our last response.
    pub sent_names: Vec<String>,
    /// The last version it accepted (ACKed).
    pub acked_version: Option<String>,
    /// Its last rejection (NACK), if any since the stream started.
    pub last_nack: Option<Nack>,
    /// Whether a NACK came after the last ACK.
    pub nacked: bool,
}

/// How a client stands with the resources of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SyncState {
    /// It ACKed the last version sent.
    Synced,
    /// It has not ACKed the last version sent yet.
    Stale,
    /// It rejected a response and has ACKed nothing since.
    Nacked,
}

impl TypeStatus {
    /// The state, or `None` if nothing of this type was sent.
    pub fn state(&self) -> Option<SyncState> {
        let sent = self.sent_version.as_ref()?;
        Some(if self.nacked {
            SyncState::Nacked
        } else if self.acked_version.as_ref() == Some(sent) {
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

    /// The connected clients, oldest stream first.
    pub fn clients(&self) -> Vec<ClientStatus> {
        self.inner.clients().values().cloned().collect()
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
                types: BTreeMap::new(),
            },
        );
        ClientEntry {
            id,
            inner: Arc::clone(&self.inner),
        }
    }
}

/// One stream's place in the [`ClientRegistry`].
#[derive(Debug)]
pub(crate) struct ClientEntry {
    id: u64,
    inner: Arc<Inner>,
}

impl ClientEntry {
    /// Records that we sent `version` of `type_url`, holding the resources `names`.
    pub(crate) fn sent(&self, type_url: &str, version: &str, names: Vec<String>) {
        self.update(type_url, |t| {
            t.sent_version = Some(version.to_string());
            t.sent_names = names;
        });
    }

    /// Records that the client accepted `version` of `type_url`.
    pub(crate) fn ack(&self, type_url: &str, version: &str) {
        self.update(type_url, |t| {
            t.acked_version = Some(version.to_string());
            t.nacked = false;
        });
    }

    /// Records that the client rejected a response of `type_url`.
    pub(crate) fn nack(&self, type_url: &str, nack: Nack) {
        self.update(type_url, |t| {
            t.last_nack = Some(nack);
            t.nacked = true;
        });
    }

    fn update(&self, type_url: &str, f: impl FnOnce(&mut TypeStatus)) {
        if let Some(client) = self.inner.clients().get_mut(&self.id) {
            f(client.types.entry(type_url.to_string()).or_default());
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

    fn state(registry: &ClientRegistry) -> Option<SyncState> {
        registry.clients()[0]
            .types
            .get("t")
            .and_then(TypeStatus::state)
    }

    #[test]
    fn entries_record_and_leave() {
        let registry = ClientRegistry::new();
        let entry = registry.connect("node-1", None);
        assert_eq!(state(&registry), None);
        entry.sent("t", "3", vec!["a".into()]);
        assert_eq!(state(&registry), Some(SyncState::Stale));
        entry.ack("t", "3");
        assert_eq!(state(&registry), Some(SyncState::Synced));
        entry.sent("t", "4", vec!["a".into(), "b".into()]);
        entry.nack(
            "t",
            Nack {
                version: "4".into(),
                nonce: "2".into(),
                message: "bad".into(),
            },
        );
        assert_eq!(state(&registry), Some(SyncState::Nacked));
        // A newer push does not hide the rejection; its ACK does.
        entry.sent("t", "5", vec!["a".into()]);
        assert_eq!(state(&registry), Some(SyncState::Nacked));
        entry.ack("t", "5");
        assert_eq!(state(&registry), Some(SyncState::Synced));
        let clients = registry.clients();
        assert_eq!(clients[0].node_id, "node-1");
        let status = &clients[0].types["t"];
        assert_eq!(status.acked_version.as_deref(), Some("5"));
        assert_eq!(status.sent_names, ["a"]);
        assert_eq!(status.last_nack.as_ref().unwrap().message, "bad");
        drop(entry);
        assert!(registry.clients().is_empty());
    }
}
