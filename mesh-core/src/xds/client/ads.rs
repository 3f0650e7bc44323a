//! The ADS stream task: one bidirectional stream to the management server, for every type.
//!
//! The task owns the [`Cache`]. Per stream it sends one `DiscoveryRequest` per type with every
//! subscribed name (state of the world), the node on the first request, and then answers each
//! response: ACK (the response's version and nonce) or NACK (the last ACKed version, the nonce
//! and an `error_detail` listing every invalid resource). When the stream breaks or cannot be
//! opened, the cache stays as it is (fail static) and the task reconnects after an exponential
//! backoff with jitter, re-sending every subscription with the last ACKed versions.
//!
//! The task keeps the client's metrics ([`XdsMetrics`]): connected from the moment the server
//! accepts the stream until it ends, each response counted as ACK or NACK, and after each
//! change the number of resources held. It also answers config dump requests from its cache.

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::{
    DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_client::AggregatedDiscoveryServiceClient,
};
use envoy_types::pb::google::rpc;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Endpoint;

use super::cache::Cache;
use super::dump::Nack;
use super::metrics::XdsMetrics;
use super::subscription::Command;
use crate::xds::decode::{self, ResourceKind};

/// How long opening the stream may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the longest pause between reconnection attempts. The longest stays below
/// mesh-control's default warm-up (15 s), so that after a restart of mesh-control every server
/// has registered again before clusters without endpoints are sent.
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The background task of one client.
pub(crate) struct AdsTask {
    pub(crate) endpoint: Endpoint,
    pub(crate) node: Node,
    /// How long a subscription may go unanswered before it does not exist (gRFC A27: 15 s).
    pub(crate) resource_timeout: Duration,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) cache: Cache,
    pub(crate) metrics: XdsMetrics,
    /// Whether a stream is open (the server accepted it).
    pub(crate) connected: bool,
}

/// Why a stream ended.
enum Ended {
    /// Every client handle is gone.
    Shutdown,
    /// The stream broke or could not be opened.
    Broken { answered: bool, reason: String },
}

/// The per-stream protocol state.
struct Stream {
    requests: mpsc::UnboundedSender<DiscoveryRequest>,
    nonces: HashMap<ResourceKind, String>,
    node_sent: bool,
    /// The server accepted the stream: silence now counts against does-not-exist timers.
    live: bool,
}

impl AdsTask {
    /// Runs until every client handle is dropped.
    pub(crate) async fn run(mut self) {
        let server = self.endpoint.uri().to_string();
        let mut backoff = new_backoff();
        let mut failures = 0u32;
        loop {
            let ended = self.session().await;
            self.set_connected(false);
            match ended {
                Ended::Shutdown => {
                    tracing::debug!(%server, "xDS client shut down");
                    return;
                }
                Ended::Broken { answered, reason } => {
                    if answered {
                        backoff = new_backoff();
                        failures = 0;
                    }
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(%server, %reason, "xDS stream down; keeping the last known config and reconnecting");
                    } else {
                        tracing::debug!(%server, %reason, failures, "xDS stream still down");
                    }
                }
            }
            self.cache.stop_timers();
            if !self.pause(backoff.next().unwrap_or(MAX_BACKOFF)).await {
                return;
            }
        }
    }

    /// Waits `delay`, keeping subscriptions up to date; false if the client shut down.
    async fn pause(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                command = self.commands.recv() => match command {
                    Some(command) => { self.on_command(command); }
                    None => return false,
                },
            }
        }
    }

    /// One stream, from connecting to its end.
    async fn session(&mut self) -> Ended {
        let (requests, outbound) = mpsc::unbounded_channel();
        let mut stream = Stream {
            requests,
            nonces: HashMap::new(),
            node_sent: false,
            live: false,
        };
        for kind in ResourceKind::ALL {
            if !self.cache.names(kind).is_empty() {
                self.send(&mut stream, kind, None);
            }
        }
        let endpoint = self.endpoint.clone();
        let connect = tokio::time::timeout(CONNECT_TIMEOUT, async move {
            let channel = endpoint
                .connect()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?;
            AggregatedDiscoveryServiceClient::new(channel)
                .max_decoding_message_size(super::MAX_RESPONSE_SIZE)
                .stream_aggregated_resources(UnboundedReceiverStream::new(outbound))
                .await
                .map_err(|status| format!("stream refused: {status}"))
        });
        tokio::pin!(connect);
        let connected = loop {
            tokio::select! {
                result = &mut connect => break result,
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command_in(&mut stream, command),
                    None => return Ended::Shutdown,
                },
            }
        };
        let mut responses = match connected {
            Ok(Ok(response)) => response.into_inner(),
            Ok(Err(reason)) => {
                return Ended::Broken {
                    answered: false,
                    reason,
                };
            }
            Err(_) => {
                let reason = format!("no stream within {CONNECT_TIMEOUT:?}");
                return Ended::Broken {
                    answered: false,
                    reason,
                };
            }
        };
        tracing::info!(server = %self.endpoint.uri(), "xDS stream open");
        self.set_connected(true);
        stream.live = true;
        let deadline = Instant::now() + self.resource_timeout;
        for kind in ResourceKind::ALL {
            self.cache.start_timers(kind, deadline);
        }
        let mut answered = false;
        loop {
            let next = self.cache.next_deadline();
            let far = Instant::now() + Duration::from_secs(3600);
            tokio::select! {
                message = responses.next() => match message {
                    Some(Ok(response)) => {
                        answered = true;
                        self.on_response(&mut stream, response);
                    }
                    Some(Err(status)) => return Ended::Broken { answered, reason: status.to_string() },
                    None => {
                        let reason = "the server ended the stream".to_string();
                        return Ended::Broken { answered, reason };
                    }
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command_in(&mut stream, command),
                    None => return Ended::Shutdown,
                },
                () = tokio::time::sleep_until(next.unwrap_or(far)), if next.is_some() => {
                    self.cache.expire(Instant::now());
                }
            }
        }
    }

    /// Applies a command to the cache; returns the type whose request must change.
    fn on_command(&mut self, command: Command) -> Option<ResourceKind> {
        match command {
            Command::Subscribe {
                kind,
                name,
                id,
                slot,
            } => {
                tracing::debug!(?kind, %name, "xDS subscribe");
                self.cache.subscribe(kind, name, id, slot).then_some(kind)
            }
            Command::Unsubscribe { kind, name, id } => {
                let removed = self.cache.unsubscribe(kind, &name, id);
                if removed {
                    tracing::debug!(?kind, %name, "xDS unsubscribe");
                    self.metrics.set_resources(kind, self.cache.present(kind));
                }
                removed.then_some(kind)
            }
            Command::Dump { mut into, reply } => {
                into.connected = self.connected;
                self.cache.fill(&mut into);
                // The caller may have given up waiting.
                let _ = reply.send(into);
                None
            }
        }
    }

    fn set_connected(&mut self, connected: bool) {
        self.connected = connected;
        self.metrics.set_connected(connected);
    }

    fn on_command_in(&mut self, stream: &mut Stream, command: Command) {
        if let Some(kind) = self.on_command(command) {
            self.send(stream, kind, None);
        }
    }

    /// Decodes and applies a response, then ACKs or NACKs it.
    fn on_response(&mut self, stream: &mut Stream, response: DiscoveryResponse) {
        let Some(kind) = ResourceKind::from_type_url(&response.type_url) else {
            tracing::warn!(type_url = %response.type_url, "ignoring an xDS response of a type never asked for");
            return;
        };
        let results = response
            .resources
            .iter()
            .map(|any| decode::resource(kind, any))
            .collect();
        let errors = self.cache.apply(kind, &response.version_info, results);
        self.metrics.set_resources(kind, self.cache.present(kind));
        stream.nonces.insert(kind, response.nonce.clone());
        let version = &response.version_info;
        if errors.is_empty() {
            tracing::debug!(?kind, %version, nonce = %response.nonce, resources = response.resources.len(), "xDS ACK");
            self.metrics.ack(kind, version);
            self.cache.set_last_nack(kind, None);
            self.send(stream, kind, None);
            return;
        }
        let message = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        tracing::warn!(?kind, %version, %message, "xDS NACK: invalid resources keep their previous value");
        self.metrics.nack(kind);
        let nack = Nack::new(version.clone(), response.nonce.clone(), message.clone());
        self.cache.set_last_nack(kind, Some(nack));
        let status = rpc::Status {
            code: tonic::Code::InvalidArgument as i32,
            message,
            details: Vec::new(),
        };
        self.send(stream, kind, Some(status));
    }

    /// Sends the request of `kind`: every subscribed name, the last ACKed version, the last nonce.
    fn send(&mut self, stream: &mut Stream, kind: ResourceKind, error_detail: Option<rpc::Status>) {
        let request = DiscoveryRequest {
            version_info: self.cache.version(kind).to_string(),
            node: (!stream.node_sent).then(|| self.node.clone()),
            resource_names: self.cache.names(kind),
            type_url: kind.type_url().to_string(),
            response_nonce: stream.nonces.get(&kind).cloned().unwrap_or_default(),
            error_detail,
            ..Default::default()
        };
        stream.node_sent = true;
        // Fails only when the stream just ended; the next one re-sends everything.
        let _ = stream.requests.send(request);
        if stream.live {
            self.cache
                .start_timers(kind, Instant::now() + self.resource_timeout);
        }
    }
}

fn new_backoff() -> impl Iterator<Item = Duration> {
    crate::backoff::exponential(MIN_BACKOFF, MAX_BACKOFF)
}
