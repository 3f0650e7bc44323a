//! The ADS server end to end: a real tonic server on 127.0.0.1:0 driven by the envoy-types
//! ADS client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DeltaDiscoveryRequest, DiscoveryRequest};
use envoy_types::pb::google::rpc;
use mesh_core::model::{Endpoint, HealthStatus};
use mesh_core::registration::{METADATA_KEY, Registration};
use mesh_core::xds::json::json_to_struct;
use mesh_core::xds::type_url;
use prost::Message;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use super::*;
use crate::config::MeshConfig;
use crate::snapshot::BuildSettings;
use crate::snapshot::tests::{CLUSTER_B, one_service};

/// Long enough for a loaded 2-core machine; only reached when a test fails.
const PATIENCE: Duration = Duration::from_secs(10);
/// How long "no response" is watched for.
const QUIET: Duration = Duration::from_millis(300);
const CLUSTER_B_8080: &str = "serviceb.demo.svc.cluster.local:8080";

struct Harness {
    addr: SocketAddr,
    config: watch::Sender<Arc<MeshConfig>>,
    clients: ClientRegistry,
}

async fn start() -> Harness {
    let config = watch::Sender::new(Arc::new(one_service()));
    let registry = Registry::new();
    let initial = Snapshot::build(
        &one_service(),
        &registry.current(),
        &BuildSettings::default(),
    );
    let (snapshots_tx, snapshots) = watch::channel(Arc::new(initial));
    tokio::spawn(crate::snapshot::publish(
        config.subscribe(),
        registry.subscribe(),
        snapshots_tx,
        std::time::Duration::ZERO,
        BuildSettings::default().trust_domain,
    ));
    let clients = ClientRegistry::new();
    let server = AdsServer::new(snapshots, registry, clients.clone(), &Metrics::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(server.into_service())
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    Harness {
        addr,
        config,
        clients,
    }
}

struct Client {
    node: Node,
    requests: mpsc::Sender<DiscoveryRequest>,
    responses: Streaming<DiscoveryResponse>,
}

impl Harness {
    async fn connect(&self, node: Node) -> Client {
        let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://{}", self.addr))
            .await
            .unwrap();
        let (requests, rx) = mpsc::channel(16);
        let responses = ads
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Client {
            node,
            requests,
            responses,
        }
    }

    async fn eventually(&self, what: &str, check: impl Fn(&[ClientStatus]) -> bool) {
        tokio::time::timeout(PATIENCE, async {
            while !check(&self.clients.map_clients(ClientStatus::clone)) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            let clients = self.clients.map_clients(ClientStatus::clone);
            panic!("never saw {what}: {clients:?}")
        });
    }
}

fn node(id: &str) -> Node {
    Node {
        id: id.into(),
        ..Default::default()
    }
}

impl Client {
    async fn send(&self, type_url: &str, names: &[&str], ack_of: Option<&DiscoveryResponse>) {
        let request = DiscoveryRequest {
            node: Some(self.node.clone()),
            type_url: type_url.into(),
            resource_names: names.iter().map(|n| n.to_string()).collect(),
            version_info: ack_of.map(|r| r.version_info.clone()).unwrap_or_default(),
            response_nonce: ack_of.map(|r| r.nonce.clone()).unwrap_or_default(),
            ..Default::default()
        };
        self.requests.send(request).await.unwrap();
    }

    async fn recv(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(PATIENCE, self.responses.message())
            .await
            .expect("no response in time")
            .unwrap()
            .expect("stream ended")
    }

    async fn assert_quiet(&mut self) {
        let got = tokio::time::timeout(QUIET, self.responses.message()).await;
        assert!(got.is_err(), "unexpected response: {got:?}");
    }
}

fn names<M: Message + Default>(
    response: &DiscoveryResponse,
    name: fn(&M) -> String,
) -> Vec<String> {
    response
        .resources
        .iter()
        .map(|any| name(&M::decode(any.value.as_slice()).unwrap()))
        .collect()
}

fn listener_names(response: &DiscoveryResponse) -> Vec<String> {
    names::<Listener>(response, |l| l.name.clone())
}

fn endpoint_count(response: &DiscoveryResponse) -> usize {
    let cla = ClusterLoadAssignment::decode(response.resources[0].value.as_slice()).unwrap();
    cla.endpoints.iter().map(|l| l.lb_endpoints.len()).sum()
}

fn has_endpoint(response: &DiscoveryResponse, port: u32) -> bool {
    ClusterLoadAssignment::decode(response.resources[0].value.as_slice())
        .unwrap()
        .endpoints
        .iter()
        .flat_map(|l| &l.lb_endpoints)
        .any(|e| format!("{e:?}").contains(&format!("PortValue({port})")))
}

fn add_static_endpoint(harness: &Harness) {
    harness.config.send_modify(|config| {
        let config = Arc::make_mut(config);
        let service = config.services.values_mut().next().unwrap();
        service.ports[0].endpoints.push(Endpoint {
            address: "10.0.0.2:50051".parse().unwrap(),
            weight: 1,
            health: HealthStatus::Unknown,
        });
    });
}

#[tokio::test]
async fn lds_by_name_gets_only_what_exists() {
    let harness = start().await;
    let mut client = harness.connect(node("n1")).await;
    client
        .send(type_url::LISTENER, &["serviceb.demo:50051", "nope:1"], None)
        .await;
    let response = client.recv().await;
    assert_eq!(response.type_url, type_url::LISTENER);
    assert_eq!(response.version_info, "1");
    assert!(!response.nonce.is_empty());
    assert_eq!(listener_names(&response), ["serviceb.demo:50051"]);

    // Only unknown names: still a response, with nothing in it.
    client
        .send(type_url::LISTENER, &["nope:1"], Some(&response))
        .await;
    let response = client.recv().await;
    assert!(response.resources.is_empty());
}

#[tokio::test]
async fn empty_first_cds_request_is_wildcard() {
    let harness = start().await;
    let mut client = harness.connect(node("n1")).await;
    client.send(type_url::CLUSTER, &[], None).await;
    assert_eq!(client.recv().await.resources.len(), 2);
}

#[tokio::test]
async fn ack_and_nack_are_recorded() {
    const LDS: usize = 0;
    let harness = start().await;
    let mut client = harness.connect(node("n1")).await;
    client.send(type_url::LISTENER, &["serviceb"], None).await;
    let response = client.recv().await;
    client
        .send(type_url::LISTENER, &["serviceb"], Some(&response))
        .await;
    harness
        .eventually("the ACK", |c| {
            c.first().is_some_and(|c| {
                c.node_id == "n1"
                    && c.types[LDS].acked_version.as_deref() == Some("1")
                    && c.types[LDS].state() == Some(SyncState::Synced)
            })
        })
        .await;

    // A name change gets a new response, which the client rejects.
    let names = ["serviceb", "serviceb.demo"];
    client
        .send(type_url::LISTENER, &names, Some(&response))
        .await;
    let rejected = client.recv().await;
    let mut nack = DiscoveryRequest {
        node: Some(client.node.clone()),
        type_url: type_url::LISTENER.into(),
        resource_names: names.map(String::from).to_vec(),
        version_info: response.version_info.clone(),
        response_nonce: rejected.nonce.clone(),
        ..Default::default()
    };
    nack.error_detail = Some(rpc::Status {
        code: 3,
        message: "listener serviceb: bad".into(),
        ..Default::default()
    });
    client.requests.send(nack).await.unwrap();
    harness
        .eventually("the NACK", |c| {
            c.first().is_some_and(|c| {
                let lds = &c.types[LDS];
                lds.state() == Some(SyncState::Nacked)
                    && lds.last_nack.as_ref().is_some_and(|n| {
                        n.message == "listener serviceb: bad" && n.nonce == rejected.nonce
                    })
            })
        })
        .await;
    client.assert_quiet().await;
}

#[tokio::test]
async fn snapshot_change_is_pushed_and_unsubscribed_names_are_not() {
    let harness = start().await;
    let mut client = harness.connect(node("n1")).await;
    client
        .send(type_url::CLUSTER_LOAD_ASSIGNMENT, &[CLUSTER_B], None)
        .await;
    let first = client.recv().await;
    assert_eq!(endpoint_count(&first), 1);
    client
        .send(
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            &[CLUSTER_B],
            Some(&first),
        )
        .await;

    add_static_endpoint(&harness);
    let pushed = client.recv().await;
    assert_eq!(pushed.version_info, "2");
    assert_ne!(pushed.nonce, first.nonce);
    assert_eq!(endpoint_count(&pushed), 2);

    // Switch to the other port's cluster; changes to the first one are no longer pushed.
    client
        .send(
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            &[CLUSTER_B_8080],
            Some(&pushed),
        )
        .await;
    let switched = client.recv().await;
    assert_eq!(endpoint_count(&switched), 0);
    client
        .send(
            type_url::CLUSTER_LOAD_ASSIGNMENT,
            &[CLUSTER_B_8080],
            Some(&switched),
        )
        .await;
    harness.config.send_modify(|config| {
        let service = Arc::make_mut(config).services.values_mut().next().unwrap();
        service.ports[0].endpoints.clear();
    });
    client.assert_quiet().await;
}

#[tokio::test]
async fn stale_nonce_is_ignored() {
    let harness = start().await;
    let mut client = harness.connect(node("n1")).await;
    client.send(type_url::LISTENER, &["serviceb"], None).await;
    let response = client.recv().await;
    let stale = DiscoveryResponse {
        nonce: "stale".into(),
        ..response
    };
    client
        .send(
            type_url::LISTENER,
            &["serviceb", "serviceb.demo"],
            Some(&stale),
        )
        .await;
    client.assert_quiet().await;
}

#[tokio::test]
async fn registration_lives_as_long_as_the_stream() {
    let harness = start().await;
    let mut watcher = harness.connect(node("watcher")).await;
    watcher
        .send(type_url::CLUSTER_LOAD_ASSIGNMENT, &[CLUSTER_B], None)
        .await;
    let mut last = watcher.recv().await;
    assert!(!has_endpoint(&last, 4242));

    let registrations = Registration::to_metadata(&[Registration {
        service: "serviceb.demo:50051".into(),
        address: "127.0.0.1:4242".parse().unwrap(),
    }]);
    let mut metadata = serde_json::Map::new();
    metadata.insert(METADATA_KEY.into(), registrations);
    let server_node = Node {
        id: "serviceb-1".into(),
        metadata: Some(json_to_struct(&metadata)),
        ..Default::default()
    };
    let server = harness.connect(server_node).await;
    let listener = format!("{}127.0.0.1:4242", type_url::SERVER_LISTENER_PREFIX);
    server.send(type_url::LISTENER, &[&listener], None).await;

    while !has_endpoint(&last, 4242) {
        watcher
            .send(type_url::CLUSTER_LOAD_ASSIGNMENT, &[CLUSTER_B], Some(&last))
            .await;
        last = watcher.recv().await;
    }
    drop(server);
    watcher
        .send(type_url::CLUSTER_LOAD_ASSIGNMENT, &[CLUSTER_B], Some(&last))
        .await;
    let after = watcher.recv().await;
    assert!(
        !has_endpoint(&after, 4242),
        "still registered after the stream ended"
    );
}

#[tokio::test]
async fn delta_is_unimplemented_with_a_reason() {
    let harness = start().await;
    let mut ads = AggregatedDiscoveryServiceClient::connect(format!("http://{}", harness.addr))
        .await
        .unwrap();
    let requests = tokio_stream::iter(vec![DeltaDiscoveryRequest::default()]);
    let status = ads.delta_aggregated_resources(requests).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(status.message().contains("state-of-the-world"), "{status}");
}

#[tokio::test]
async fn a_change_of_mtls_mode_is_pushed_to_a_subscribed_server() {
    use mesh_core::model::InboundTls;
    fn inbound_tls(response: &DiscoveryResponse) -> InboundTls {
        let proto = Listener::decode(response.resources[0].value.as_slice()).unwrap();
        match mesh_core::xds::decode::listener(&proto).unwrap() {
            mesh_core::model::Listener::Server(l) => l.tls,
            other => panic!("not a server listener: {other:?}"),
        }
    }

    let harness = start().await;
    let mut server = harness.connect(node("server")).await;
    // The static endpoint of serviceb, which is permissive by default.
    let name = format!("{}10.0.0.1:50051", type_url::SERVER_LISTENER_PREFIX);
    server.send(type_url::LISTENER, &[&name], None).await;
    let first = server.recv().await;
    assert_eq!(inbound_tls(&first), InboundTls::Permissive);
    server
        .send(type_url::LISTENER, &[&name], Some(&first))
        .await;

    harness.config.send_modify(|config| {
        let config = Arc::make_mut(config);
        for service in config.services.values_mut() {
            service.tls.mode = crate::config::TlsMode::Strict;
        }
    });
    let pushed = server.recv().await;
    assert_eq!(pushed.type_url, type_url::LISTENER);
    assert_eq!(listener_names(&pushed), [name]);
    assert_eq!(inbound_tls(&pushed), InboundTls::Strict);
}
