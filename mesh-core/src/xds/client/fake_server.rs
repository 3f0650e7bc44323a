//! A fake ADS server for tests: records what clients send and answers what the test says.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
    aggregated_discovery_service_server::{
        AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
    },
};
use envoy_types::pb::google::protobuf::Any;
use futures_util::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{TcpListenerStream, UnboundedReceiverStream};
use tonic::{Request, Response, Status, Streaming};

/// How long a test waits for something that should happen.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

type Responses = mpsc::UnboundedSender<Result<DiscoveryResponse, Status>>;

/// A running fake server.
pub(crate) struct FakeAds {
    addr: SocketAddr,
    requests: mpsc::UnboundedReceiver<DiscoveryRequest>,
    streams: Arc<Mutex<Vec<Responses>>>,
    server: JoinHandle<()>,
}

struct Service {
    requests: mpsc::UnboundedSender<DiscoveryRequest>,
    streams: Arc<Mutex<Vec<Responses>>>,
}

impl FakeAds {
    /// Starts a server on a free port.
    pub(crate) async fn start() -> FakeAds {
        FakeAds::start_on("127.0.0.1:0".parse().expect("an address")).await
    }

    /// Starts a server on `addr` (to come back on the port of a stopped one).
    pub(crate) async fn start_on(addr: SocketAddr) -> FakeAds {
        let listener = TcpListener::bind(addr)
            .await
            .expect("bind the fake ADS server");
        let addr = listener.local_addr().expect("a local address");
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let streams = Arc::new(Mutex::new(Vec::new()));
        let service = Service {
            requests: requests_tx,
            streams: streams.clone(),
        };
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(AggregatedDiscoveryServiceServer::new(service))
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
                .expect("the fake ADS server runs");
        });
        FakeAds {
            addr,
            requests,
            streams,
            server,
        }
    }

    /// `host:port`, as a bootstrap's `server_uri`.
    pub(crate) fn uri(&self) -> String {
        self.addr.to_string()
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The next request any client sent; panics if none comes in time.
    pub(crate) async fn next_request(&mut self) -> DiscoveryRequest {
        tokio::time::timeout(PATIENCE, self.requests.recv())
            .await
            .expect("a request in time")
            .expect("the fake server is running")
    }

    /// Sends a response on the newest stream.
    pub(crate) fn respond(&self, type_url: &str, version: &str, nonce: &str, resources: Vec<Any>) {
        let response = DiscoveryResponse {
            version_info: version.into(),
            resources,
            type_url: type_url.into(),
            nonce: nonce.into(),
            ..Default::default()
        };
        let streams = self.streams.lock().expect("not poisoned");
        let stream = streams.last().expect("a client stream is open");
        stream.send(Ok(response)).expect("the stream is open");
    }

    /// Stops listening and breaks every open stream.
    pub(crate) fn stop(self) {
        self.server.abort();
        for stream in self.streams.lock().expect("not poisoned").drain(..) {
            let _ = stream.send(Err(Status::unavailable("fake server stopping")));
        }
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Service {
    type StreamAggregatedResourcesStream =
        Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
    type DeltaAggregatedResourcesStream =
        Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        // Registered before reading, so a test that saw a request can answer on this stream.
        let (tx, rx) = mpsc::unbounded_channel();
        self.streams.lock().expect("not poisoned").push(tx);
        let mut inbound = request.into_inner();
        let requests = self.requests.clone();
        tokio::spawn(async move {
            while let Some(Ok(request)) = inbound.next().await {
                let _ = requests.send(request);
            }
        });
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "the fake ADS server speaks state of the world only",
        ))
    }
}
