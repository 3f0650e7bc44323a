//! Self-registration: how a meshed server tells mesh-control what it serves.
//!
//! A server puts a list of [`Registration`]s in its xDS node metadata under [`METADATA_KEY`].
//! mesh-control adds each address as an EDS endpoint of the named service while that ADS stream
//! lives, and removes it when the stream ends. There is no separate heartbeat: the stream is the
//! lease.
//!
//! In the node metadata it looks like this (JSON, as in a gRPC bootstrap):
//!
//! ```json
//! { "mesh.serves": [ { "service": "serviceb.demo:50051", "address": "127.0.0.1:40001" } ] }
//! ```

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The node metadata key that holds a server's registrations.
pub const METADATA_KEY: &str = "mesh.serves";

/// One service a server serves, and the address where it serves it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The service as a client names it: any name mesh-control answers for the Service port,
    /// such as `serviceb.demo:50051` or `serviceb.demo.svc.cluster.local:50051`.
    pub service: String,
    /// The address clients should connect to.
    pub address: SocketAddr,
}

/// Node metadata that does not hold a valid registration list.
#[derive(Debug, thiserror::Error)]
#[error("node metadata {METADATA_KEY:?} is not a list of {{service, address}}: {0}")]
pub struct RegistrationError(#[from] serde_json::Error);

impl Registration {
    /// The node metadata value for a list of registrations.
    pub fn to_metadata(list: &[Registration]) -> serde_json::Value {
        serde_json::to_value(list).expect("registrations serialize to JSON")
    }

    /// Reads the registrations from a node's metadata (an object); none when the key is absent.
    pub fn from_metadata(
        metadata: &serde_json::Value,
    ) -> Result<Vec<Registration>, RegistrationError> {
        match metadata.get(METADATA_KEY) {
            None => Ok(Vec::new()),
            Some(value) => Ok(Vec::<Registration>::deserialize(value)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_metadata() {
        let list = vec![Registration {
            service: "serviceb.demo:50051".into(),
            address: "127.0.0.1:40001".parse().unwrap(),
        }];
        let mut metadata = serde_json::json!({ "other": 1 });
        metadata[METADATA_KEY] = Registration::to_metadata(&list);
        assert_eq!(Registration::from_metadata(&metadata).unwrap(), list);
        assert!(
            Registration::from_metadata(&serde_json::json!({}))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_address_is_an_error() {
        let metadata = serde_json::json!({ METADATA_KEY: [{ "service": "a", "address": "nope" }] });
        let err = Registration::from_metadata(&metadata)
            .unwrap_err()
            .to_string();
        assert!(err.contains("mesh.serves"), "{err}");
    }
}
