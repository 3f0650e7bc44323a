//! The state of the world of one ADS stream: what the client subscribed to, what we last sent
//! it, and what to send next.
//!
//! Per type URL we keep the subscribed names, the nonce of our last response and a hash of its
//! content. A request that echoes the last nonce is an ACK (or, with `error_detail`, a NACK);
//! one with an older nonce is stale and ignored, as the protocol says, because a newer
//! response is already on its way. A request that changes the names gets a response. A new
//! snapshot gets a response for each type whose content, for this stream, changed.
//!
//! Every response, ACK and NACK is recorded in the stream's [`ClientEntry`] (for status) and
//! in the metrics: pushes and NACKs per type, and the time from a response to its ACK.
//!
//! LDS and CDS subscriptions with no names on the first request are wildcard (everything);
//! `*` asks for everything explicitly. Responses hold every subscribed resource that exists:
//! a name that is absent from an LDS or CDS response tells a gRPC client it does not exist.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hasher};

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mesh_core::xds::type_url;
use tokio::time::Instant;

use super::status::{ClientEntry, Nack};
use crate::metrics::ControlMetrics;
use crate::snapshot::{Resource, Snapshot};

/// The order in which changed types are pushed: clusters before their endpoints, listeners
/// before their routes, so a client never sees a reference before what it needs.
const PUSH_ORDER: [&str; 4] = [
    type_url::CLUSTER,
    type_url::CLUSTER_LOAD_ASSIGNMENT,
    type_url::LISTENER,
    type_url::ROUTE_CONFIGURATION,
];

/// One type's subscription on the stream.
#[derive(Debug, Default)]
struct Subscription {
    names: BTreeSet<String>,
    wildcard: bool,
    /// The nonce of our last response of this type.
    nonce: String,
    /// The content hash of our last response of this type.
    sent: Option<u64>,
    /// The version of our last response of this type.
    version: String,
    /// When our last response of this type was made; `None` once answered.
    sent_at: Option<Instant>,
}

/// One stream's subscriptions and what was sent on it.
#[derive(Debug)]
pub(crate) struct StreamState {
    node_id: String,
    last_nonce: u64,
    subscriptions: BTreeMap<String, Subscription>,
    client: ClientEntry,
    metrics: ControlMetrics,
}

impl StreamState {
    /// A stream with no subscriptions yet, recording into `client` and `metrics`.
    pub(crate) fn new(node_id: &str, client: ClientEntry, metrics: ControlMetrics) -> Self {
        Self {
            node_id: node_id.to_string(),
            last_nonce: 0,
            subscriptions: BTreeMap::new(),
            client,
            metrics,
        }
    }

    /// Handles a request; returns the response to send, if any.
    pub(crate) fn on_request(
        &mut self,
        request: &DiscoveryRequest,
        snapshot: &Snapshot,
    ) -> Option<DiscoveryResponse> {
        let type_url = request.type_url.as_str();
        if snapshot.resources(type_url).is_none() {
            tracing::warn!(node = %self.node_id, type_url, "ignoring a request for an unsupported type");
            return None;
        }
        let names: BTreeSet<String> = request.resource_names.iter().cloned().collect();
        let Some(subscription) = self.subscriptions.get_mut(type_url) else {
            // First request of this type on the stream: whatever its nonce, answer it.
            let wildcard = names.contains("*") || (names.is_empty() && is_wildcard_type(type_url));
            let subscription = Subscription {
                names,
                wildcard,
                ..Subscription::default()
            };
            self.subscriptions
                .insert(type_url.to_string(), subscription);
            return self.respond(type_url, snapshot);
        };
        if request.response_nonce != subscription.nonce {
            tracing::debug!(node = %self.node_id, type_url, nonce = %request.response_nonce, "ignoring a request with a stale nonce");
            return None;
        }
        let metrics = self.metrics.for_type(type_url);
        let answered = subscription.sent_at.take();
        match &request.error_detail {
            Some(error) => {
                tracing::warn!(
                    node = %self.node_id,
                    type_url,
                    nonce = %request.response_nonce,
                    message = %error.message,
                    "client rejected (NACKed) a response"
                );
                self.client.nack(
                    type_url,
                    Nack {
                        version: subscription.version.clone(),
                        nonce: request.response_nonce.clone(),
                        message: error.message.clone(),
                    },
                );
                if let Some(metrics) = metrics {
                    metrics.nacks.inc();
                }
            }
            None => {
                self.client.ack(type_url, &request.version_info);
                if let (Some(metrics), Some(sent_at)) = (metrics, answered) {
                    metrics
                        .ack_duration
                        .observe(sent_at.elapsed().as_secs_f64());
                }
            }
        }
        if subscription.names == names {
            return None;
        }
        subscription.wildcard = names.contains("*");
        subscription.names = names;
        self.respond(type_url, snapshot)
    }

    /// Handles a new snapshot; returns a response for every type whose content changed.
    pub(crate) fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<DiscoveryResponse> {
        let mut responses = Vec::new();
        for type_url in PUSH_ORDER {
            let Some(subscription) = self.subscriptions.get(type_url) else {
                continue;
            };
            let (resources, hash) = content(subscription, type_url, snapshot);
            if subscription.sent != Some(hash) {
                responses.push(self.send(type_url, resources, hash, snapshot));
            }
        }
        responses
    }

    /// The response for one type, now.
    fn respond(&mut self, type_url: &str, snapshot: &Snapshot) -> Option<DiscoveryResponse> {
        let subscription = self.subscriptions.get(type_url)?;
        let (resources, hash) = content(subscription, type_url, snapshot);
        Some(self.send(type_url, resources, hash, snapshot))
    }

    /// Builds a response with a fresh nonce and records it as sent.
    fn send(
        &mut self,
        type_url: &str,
        resources: Vec<(String, Cow<'_, Resource>)>,
        hash: u64,
        snapshot: &Snapshot,
    ) -> DiscoveryResponse {
        self.last_nonce += 1;
        let nonce = self.last_nonce.to_string();
        let version = snapshot.version().to_string();
        if let Some(subscription) = self.subscriptions.get_mut(type_url) {
            subscription.nonce = nonce.clone();
            subscription.sent = Some(hash);
            subscription.version.clone_from(&version);
            subscription.sent_at = Some(Instant::now());
        }
        if let Some(metrics) = self.metrics.for_type(type_url) {
            metrics.pushes.inc();
        }
        let (names, resources): (Vec<String>, Vec<_>) = resources.into_iter().unzip();
        self.client.sent(type_url, &version, names);
        DiscoveryResponse {
            version_info: version,
            resources: resources.into_iter().map(|r| r.into_owned().any).collect(),
            type_url: type_url.to_string(),
            nonce,
            ..Default::default()
        }
    }
}

/// Types where an empty first request means "everything" (xDS: LDS and CDS).
fn is_wildcard_type(type_url: &str) -> bool {
    type_url == type_url::LISTENER || type_url == type_url::CLUSTER
}

/// The resources a subscription gets from `snapshot` with their names, and a hash of them.
fn content<'s>(
    subscription: &Subscription,
    type_url: &str,
    snapshot: &'s Snapshot,
) -> (Vec<(String, Cow<'s, Resource>)>, u64) {
    let mut found: BTreeMap<&str, Cow<'s, Resource>> = BTreeMap::new();
    if subscription.wildcard
        && let Some(all) = snapshot.resources(type_url)
    {
        found.extend(
            all.iter()
                .map(|(name, r)| (name.as_str(), Cow::Borrowed(r))),
        );
    }
    for name in &subscription.names {
        if name != "*"
            && !found.contains_key(name.as_str())
            && let Some(resource) = snapshot.get(type_url, name)
        {
            found.insert(name, resource);
        }
    }
    let mut hasher = DefaultHasher::new();
    for (name, resource) in &found {
        hasher.write(name.as_bytes());
        hasher.write_u64(resource.hash);
    }
    let hash = hasher.finish();
    let named = found
        .into_iter()
        .map(|(name, resource)| (name.to_string(), resource))
        .collect();
    (named, hash)
}
