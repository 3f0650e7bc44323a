//! Per-client status: who is connected and what each client made of what we sent.
//!
//! Every ADS stream holds a [`ClientEntry`] for its lifetime; [`ClientRegistry::clients`]
//! lists them for status pages and CLIs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

/// The status of one connected client (one ADS stream).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientStatus {
    /// The node id from the client's bootstrap.
    pub node_id: String,
    /// When the stream started.
    pub connected_since: SystemTime,
    /// Per type URL, what the client said of our responses.
    pub types: BTreeMap<String, TypeStatus>,
}

/// What a client said of our responses of one type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The last version it accepted (ACKed).
    pub acked_version: Option<String>,
    /// Its last rejection (NACK), if any since the stream started.
    pub last_nack: Option<Nack>,
}

/// A response a client rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
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

    /// Adds a client; it is removed when the entry is dropped.
    pub(crate) fn connect(&self, node_id: &str) -> ClientEntry {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.inner.clients().insert(
            id,
            ClientStatus {
                node_id: node_id.to_string(),
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
    /// Records that the client accepted `version` of `type_url`.
    pub(crate) fn ack(&self, type_url: &str, version: &str) {
        self.update(type_url, |t| t.acked_version = Some(version.to_string()));
    }

    /// Records that the client rejected a response of `type_url`.
    pub(crate) fn nack(&self, type_url: &str, nack: Nack) {
        self.update(type_url, |t| t.last_nack = Some(nack));
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

    #[test]
    fn entries_record_and_leave() {
        let registry = ClientRegistry::new();
        let entry = registry.connect("node-1");
        entry.ack("t", "3");
        entry.nack(
            "t",
            Nack {
                nonce: "4".into(),
                message: "bad".into(),
            },
        );
        let clients = registry.clients();
        assert_eq!(clients[0].node_id, "node-1");
        let status = &clients[0].types["t"];
        assert_eq!(status.acked_version.as_deref(), Some("3"));
        assert_eq!(status.last_nack.as_ref().unwrap().message, "bad");
        drop(entry);
        assert!(registry.clients().is_empty());
    }
}
