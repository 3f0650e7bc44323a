//! The certificates this CA issued since mesh-control started, for the admin endpoint.
//!
//! The list is bounded ([`CAPACITY`], oldest dropped first) and lives in memory only: it
//! answers "who got which certificate lately, and when does it expire", not an audit log.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use super::issue::IssuedCert;

/// How many certificates the log keeps.
pub const CAPACITY: usize = 1000;

/// One certificate issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedRecord {
    /// The identity it certifies.
    pub spiffe_id: String,
    /// The node id the requester gave (see [`super::service::NODE_ID_HEADER`]), if any.
    pub node_id: Option<String>,
    /// Its serial number, hex.
    pub serial: String,
    /// The start of its validity.
    pub not_before: SystemTime,
    /// Its expiry.
    pub not_after: SystemTime,
}

/// The recently issued certificates, newest last. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct IssuedLog {
    records: Arc<Mutex<VecDeque<IssuedRecord>>>,
}

impl IssuedLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> MutexGuard<'_, VecDeque<IssuedRecord>> {
        // Plain data: a panic elsewhere leaves it usable.
        self.records.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a certificate issued to `node_id`, dropping the oldest beyond [`CAPACITY`].
    pub fn record(&self, issued: &IssuedCert, node_id: Option<String>) {
        let mut records = self.records();
        if records.len() == CAPACITY {
            records.pop_front();
        }
        records.push_back(IssuedRecord {
            spiffe_id: issued.spiffe_id.to_string(),
            node_id,
            serial: issued.serial.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
        });
    }

    /// Every certificate kept, newest first.
    pub fn newest_first(&self) -> Vec<IssuedRecord> {
        self.records().iter().rev().cloned().collect()
    }

    /// The SPIFFE ID last issued to `node_id`.
    pub fn last_identity_of(&self, node_id: &str) -> Option<String> {
        self.records()
            .iter()
            .rev()
            .find(|r| r.node_id.as_deref() == Some(node_id))
            .map(|r| r.spiffe_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::WorkloadIdentity;

    #[test]
    fn keeps_the_newest_and_finds_a_node_identity() {
        let (_dir, ca) = crate::ca::test_authority(Duration::from_secs(60));
        let key = rcgen::KeyPair::generate().unwrap();
        let issue = |sa: &str| {
            let identity = WorkloadIdentity {
                namespace: "demo".into(),
                service_account: sa.into(),
            };
            ca.issue_for_key(&key, &identity, Vec::new()).unwrap()
        };
        let log = IssuedLog::new();
        log.record(&issue("a"), Some("a-1".into()));
        log.record(&issue("b"), None);
        let newest = log.newest_first();
        assert_eq!(newest.len(), 2);
        assert_eq!(newest[0].spiffe_id, "spiffe://cluster.local/ns/demo/sa/b");
        let b = issue("b");
        log.record(&b, None);
        assert_eq!(log.newest_first()[0].not_before, b.not_before);
        assert!(b.not_before < b.issued_at && b.issued_at < b.not_after);
        assert_eq!(
            log.last_identity_of("a-1").as_deref(),
            Some("spiffe://cluster.local/ns/demo/sa/a")
        );
        assert_eq!(log.last_identity_of("b-1"), None);

        let one = issue("c");
        for _ in 0..CAPACITY {
            log.record(&one, None);
        }
        let kept = log.newest_first();
        assert_eq!(kept.len(), CAPACITY);
        assert!(kept.iter().all(|r| r.spiffe_id.ends_with("/sa/c")));
    }
}
