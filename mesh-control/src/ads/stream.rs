//! The state of the world of one ADS stream: what the client subscribed to, what we last sent
//! it, and what to send next.
//!
//! Per type we keep the subscribed names, the nonce of our last response and a hash of its
//! content. The first request that echoes the last nonce answers it: an ACK, or with
//! `error_detail` a NACK; a later one with the same nonce only changes names. One with an
//! older nonce is stale and ignored, as the protocol says, because a newer response is
//! already on its way. A request that changes the names gets a response. A new snapshot gets
//! a response for each type whose content, for this stream, changed: the content is hashed
//! in place, and the response (and its list of names) is built only when the hash changed.
//!
//! Every response, ACK and NACK is recorded in the stream's [`ClientEntry`] (for status) and
//! in the metrics: pushes and NACKs per type, and the time from a response to its ACK.
//!
//! LDS and CDS subscriptions with no names on the first request are wildcard (everything);
//! `*` asks for everything explicitly. Responses hold every subscribed resource that exists:
//! a name that is absent from an LDS or CDS response tells a gRPC client it does not exist.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::hash::{DefaultHasher, Hasher};
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use mesh_core::xds::type_url;
use tokio::time::Instant;

use super::status::{ClientEntry, Nack};
use crate::metrics::ControlMetrics;
use crate::resource_types::{RESOURCE_TYPES, index_of};
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
    names: BTreeSet<Arc<str>>,
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
    /// Indexed like [`RESOURCE_TYPES`].
    subscriptions: [Option<Subscription>; 4],
    client: ClientEntry,
    metrics: ControlMetrics,
}

impl StreamState {
    /// A stream with no subscriptions yet, recording into `client` and `metrics`.
    pub(crate) fn new(node_id: &str, client: ClientEntry, metrics: ControlMetrics) -> Self {
        Self {
            node_id: node_id.to_string(),
            last_nonce: 0,
            subscriptions: Default::default(),
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
        let Some(index) = index_of(type_url) else {
            tracing::warn!(node = %self.node_id, type_url, "ignoring a request for an unsupported type");
            return None;
        };
        let Some(subscription) = &mut self.subscriptions[index] else {
            // First request of this type on the stream: whatever its nonce, answer it.
            let names = names_of(request);
            let wildcard = names.contains("*") || (names.is_empty() && is_wildcard_type(type_url));
            self.subscriptions[index] = Some(Subscription {
                names,
                wildcard,
                ..Subscription::default()
            });
            return self.send(index, snapshot);
        };
        if request.response_nonce != subscription.nonce {
            tracing::debug!(node = %self.node_id, type_url, nonce = %request.response_nonce, "ignoring a request with a stale nonce");
            return None;
        }
        // Only the first reply to a response answers it; a later one with the same nonce
        // changes names and says nothing of the response.
        if let Some(sent_at) = subscription.sent_at.take() {
            let metrics = self.metrics.for_type(index);
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
                        index,
                        Nack {
                            version: subscription.version.clone(),
                            nonce: request.response_nonce.clone(),
                            message: error.message.clone(),
                        },
                    );
                    metrics.nacks.inc();
                }
                None => {
                    self.client
                        .ack(index, &request.response_nonce, &request.version_info);
                    metrics
                        .ack_duration
                        .observe(sent_at.elapsed().as_secs_f64());
                }
            }
        }
        if subscription
            .names
            .iter()
            .map(|n| &**n)
            .eq(sorted_names(request).iter().copied())
        {
            return None;
        }
        subscription.names = names_of(request);
        subscription.wildcard = subscription.names.contains("*");
        self.send(index, snapshot)
    }

    /// Handles a new snapshot; returns a response for every type whose content changed.
    pub(crate) fn on_snapshot(&mut self, snapshot: &Snapshot) -> Vec<DiscoveryResponse> {
        let mut responses = Vec::new();
        for type_url in PUSH_ORDER {
            let Some(index) = index_of(type_url) else {
                continue;
            };
            let Some(subscription) = &self.subscriptions[index] else {
                continue;
            };
            let mut hasher = DefaultHasher::new();
            for (name, resource) in content(subscription, type_url, snapshot) {
                hasher.write(name.as_bytes());
                hasher.write_u64(resource.hash);
            }
            if subscription.sent != Some(hasher.finish())
                && let Some(response) = self.send(index, snapshot)
            {
                responses.push(response);
            }
        }
        responses
    }

    /// Builds the response for one type with a fresh nonce, and records it as sent.
    fn send(&mut self, index: usize, snapshot: &Snapshot) -> Option<DiscoveryResponse> {
        let type_url = RESOURCE_TYPES[index].url;
        let subscription = self.subscriptions[index].as_mut()?;
        let mut hasher = DefaultHasher::new();
        let mut names = Vec::new();
        let mut resources = Vec::new();
        for (name, resource) in content(subscription, type_url, snapshot) {
            hasher.write(name.as_bytes());
            hasher.write_u64(resource.hash);
            names.push(Arc::clone(name));
            resources.push(resource.into_owned().any);
        }
        self.last_nonce += 1;
        let nonce = self.last_nonce.to_string();
        let version = snapshot.version().to_string();
        subscription.nonce.clone_from(&nonce);
        subscription.sent = Some(hasher.finish());
        subscription.version.clone_from(&version);
        subscription.sent_at = Some(Instant::now());
        self.metrics.for_type(index).pushes.inc();
        self.client.sent(index, &version, &nonce, names);
        Some(DiscoveryResponse {
            version_info: version,
            resources,
            type_url: type_url.to_string(),
            nonce,
            ..Default::default()
        })
    }
}

/// The names a request subscribes to.
fn names_of(request: &DiscoveryRequest) -> BTreeSet<Arc<str>> {
    request
        .resource_names
        .iter()
        .map(|name| Arc::from(name.as_str()))
        .collect()
}

/// The names of a request, sorted and without duplicates, borrowed.
fn sorted_names(request: &DiscoveryRequest) -> Vec<&str> {
    let mut names: Vec<&str> = request.resource_names.iter().map(String::as_str).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Types where an empty first request means "everything" (xDS: LDS and CDS).
fn is_wildcard_type(type_url: &str) -> bool {
    type_url == type_url::LISTENER || type_url == type_url::CLUSTER
}

/// The resources a subscription gets from `snapshot`, with their names, in a fixed order:
/// everything of the type for a wildcard subscription, then the subscribed names it lacks
/// (server listeners, made on demand). Nothing is copied but those made on demand.
fn content<'a>(
    subscription: &'a Subscription,
    type_url: &'a str,
    snapshot: &'a Snapshot,
) -> impl Iterator<Item = (&'a Arc<str>, Cow<'a, Resource>)> {
    let all = snapshot
        .resources(type_url)
        .filter(|_| subscription.wildcard);
    let everything = all
        .into_iter()
        .flatten()
        .map(|(name, resource)| (name, Cow::Borrowed(resource)));
    let named = subscription.names.iter().filter_map(move |name| {
        let listed = all.is_some_and(|all| all.contains_key(name));
        if &**name == "*" || listed {
            return None;
        }
        Some((name, snapshot.get(type_url, name)?))
    });
    everything.chain(named)
}

#[cfg(test)]
mod tests;
