//! The JSON documents of the admin endpoint, built from the live state.
//!
//! Times are RFC 3339 strings in UTC. Resource types are keyed by their xDS service names,
//! `LDS`, `RDS`, `CDS` and `EDS`, all four always present.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AdminState;
use crate::ads::{ClientStatus, SyncState, TypeStatus};
use crate::config::{MeshConfig, TlsMode};
use crate::resource_types::RESOURCE_TYPES;

/// One connected client, as `GET /clients` lists it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientView {
    /// The node id of its bootstrap.
    pub node_id: String,
    /// Its SPIFFE ID: its certificate's on an mTLS stream, else the one the CA last issued
    /// to its node id, else `null`.
    pub identity: Option<String>,
    /// Where `identity` comes from, `null` with it.
    pub identity_source: Option<IdentitySource>,
    /// When its stream started.
    pub connected_since: String,
    /// Per type (`LDS` ... `EDS`), what it was sent and what it said.
    pub types: BTreeMap<String, TypeView>,
}

/// How the identity of a client is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentitySource {
    /// The certificate of its mTLS stream: proven.
    Certificate,
    /// The CA issued it to a requester that named this node id, which anyone can name:
    /// a hint, not a proof.
    Claimed,
}

/// What one client was sent of one type and what it said of it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TypeView {
    /// `SYNCED`, `STALE`, `NACKED`, or `null` when nothing was sent.
    pub state: Option<SyncState>,
    /// The version of the last response sent.
    pub sent_version: Option<String>,
    /// The version last ACKed.
    pub acked_version: Option<String>,
    /// The last rejection.
    pub last_nack: Option<NackView>,
    /// The names of the resources in the last response; only in `GET /clients/{node_id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<String>>,
}

/// A rejected response.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NackView {
    /// The version rejected.
    pub version: String,
    /// The nonce of the rejected response.
    pub nonce: String,
    /// The client's reason.
    pub reason: String,
}

/// The loaded config, as `GET /config` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConfigView {
    /// The xDS version being served (it goes up on every change of content).
    pub version: u64,
    /// Every Service.
    pub services: Vec<ServiceView>,
    /// How many join tokens the CA accepts (never the tokens).
    pub join_tokens: usize,
    /// The errors of the last reload, if it failed (the previous config is still served).
    pub last_reload_error: Option<ReloadErrorView>,
}

/// A Service and its policies.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServiceView {
    /// `namespace/name`.
    pub name: String,
    /// Its mTLS mode: `STRICT`, `PERMISSIVE` or `DISABLE`.
    pub mtls: String,
    /// The AuthorizationPolicy that applies, if any.
    pub authorization: Option<String>,
    /// Whether a RateLimitPolicy applies.
    pub rate_limited: bool,
    /// Its ports.
    pub ports: Vec<PortView>,
}

/// A Service port.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PortView {
    /// The port number.
    pub port: u16,
    /// The names of its routes, in match order.
    pub routes: Vec<String>,
    /// How many static endpoints it has.
    pub static_endpoints: usize,
}

/// A failed reload.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReloadErrorView {
    /// When it happened.
    pub at: String,
    /// Its errors, one per line.
    pub errors: String,
}

/// A certificate the CA issued, as `GET /certs` lists it (newest first).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CertView {
    /// The identity.
    pub spiffe_id: String,
    /// The node id of the requester, if it said.
    pub node_id: Option<String>,
    /// The serial number, hex.
    pub serial: String,
    /// The start of its validity.
    pub not_before: String,
    /// Its expiry.
    pub not_after: String,
}

/// RFC 3339, UTC.
pub(crate) fn timestamp(at: SystemTime) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "out of range".to_string())
}

fn type_view(status: &TypeStatus, detail: bool) -> TypeView {
    TypeView {
        state: status.state(),
        sent_version: status.sent_version.clone(),
        acked_version: status.acked_version.clone(),
        last_nack: status.last_nack.as_ref().map(|n| NackView {
            version: n.version.clone(),
            nonce: n.nonce.clone(),
            reason: n.message.clone(),
        }),
        resources: detail.then(|| status.sent_names.iter().map(|n| n.to_string()).collect()),
    }
}

/// The view of one client, made in place under the registry's lock.
fn client_view(state: &AdminState, client: &ClientStatus, detail: bool) -> ClientView {
    let (identity, identity_source) = match &client.peer_identity {
        Some(id) => (Some(id.clone()), Some(IdentitySource::Certificate)),
        None => match state.issued.last_identity_of(&client.node_id) {
            Some(id) => (Some(id), Some(IdentitySource::Claimed)),
            None => (None, None),
        },
    };
    let types = RESOURCE_TYPES
        .iter()
        .zip(&client.types)
        .map(|(t, status)| (t.short.to_string(), type_view(status, detail)))
        .collect();
    ClientView {
        node_id: client.node_id.clone(),
        identity,
        identity_source,
        connected_since: timestamp(client.connected_since),
        types,
    }
}

/// `GET /clients`: every connected client, oldest stream first.
pub(crate) fn clients(state: &AdminState) -> Vec<ClientView> {
    state
        .clients
        .map_clients(|client| client_view(state, client, false))
}

/// `GET /clients/{node_id}`: the newest stream of that node, with resource names.
pub(crate) fn client(state: &AdminState, node_id: &str) -> Option<ClientView> {
    state
        .clients
        .map_newest(node_id, |client| client_view(state, client, true))
}

/// `GET /config`.
pub(crate) fn config(state: &AdminState) -> ConfigView {
    let config: std::sync::Arc<MeshConfig> = std::sync::Arc::clone(&state.config.borrow());
    let services = config
        .services
        .values()
        .map(|service| ServiceView {
            name: service.service.to_string(),
            mtls: match service.tls.mode {
                TlsMode::Strict => "STRICT",
                TlsMode::Permissive => "PERMISSIVE",
                TlsMode::Disable => "DISABLE",
            }
            .to_string(),
            authorization: service.authorization.as_ref().map(|a| a.policy.clone()),
            rate_limited: service.rate_limit.is_some(),
            ports: service
                .ports
                .iter()
                .map(|port| PortView {
                    port: port.port,
                    routes: port.routes.iter().map(|r| r.name.clone()).collect(),
                    static_endpoints: port.endpoints.len(),
                })
                .collect(),
        })
        .collect();
    ConfigView {
        version: state.snapshots.borrow().version(),
        services,
        join_tokens: config.join_tokens.len(),
        last_reload_error: state.reloads.last_failure().map(|f| ReloadErrorView {
            at: timestamp(f.at),
            errors: f.errors,
        }),
    }
}

/// `GET /certs`: newest first.
pub(crate) fn certs(state: &AdminState) -> Vec<CertView> {
    state
        .issued
        .newest_first()
        .into_iter()
        .map(|r| CertView {
            spiffe_id: r.spiffe_id,
            node_id: r.node_id,
            serial: r.serial,
            not_before: timestamp(r.not_before),
            not_after: timestamp(r.not_after),
        })
        .collect()
}
