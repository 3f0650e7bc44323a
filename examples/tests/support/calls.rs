//! Rust mesh clients of the test process, and calls through them: one, `n` counted by replica, or a
//! concurrent load; and waiting for a cluster's endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient as BClient;
use mesh_client::MeshChannel;
use mesh_core::identity::Identity;
use mesh_core::model::ClusterLoadAssignment;
use mesh_core::xds::{ResourceState, ResourceWatch, XdsClient};

use super::Mesh;

/// Clients of a [`Mesh`] in the test process.
impl Mesh {
    /// The identity join `token` proves, from this mesh's CA.
    pub async fn identity(&self, token: &str) -> Identity {
        Identity::builder()
            .bootstrap(&self.bootstrap("test-client"))
            .token(token)
            .start()
            .await
            .unwrap()
    }

    /// A gRPC client of `target` through a MeshChannel of this test process, as demo/servicea
    /// (join token `dev-servicea`).
    pub async fn client(&self, target: &str) -> BClient<MeshChannel> {
        BClient::new(self.channel(target).await)
    }

    /// The MeshChannel under [`Mesh::client`], whose counters a test can read.
    pub async fn channel(&self, target: &str) -> MeshChannel {
        let identity = self.identity("dev-servicea").await;
        self.channel_with(target, Some(identity))
    }

    /// A gRPC client of `target` with the given identity, or none.
    pub fn client_with(&self, target: &str, identity: Option<Identity>) -> BClient<MeshChannel> {
        BClient::new(self.channel_with(target, identity))
    }

    /// A MeshChannel to `target` with the given identity, or none.
    pub fn channel_with(&self, target: &str, identity: Option<Identity>) -> MeshChannel {
        let xds = XdsClient::builder()
            .bootstrap(self.bootstrap("test-client"))
            .build()
            .unwrap();
        let mut builder = MeshChannel::builder();
        if let Some(identity) = identity {
            builder = builder.identity(identity);
        }
        builder.channel(&xds, target).unwrap()
    }
}

/// One call of a [`load`]: when it started (since the load began), how long it took, and the
/// replica that answered or the status it failed with.
#[derive(Debug)]
pub struct Call {
    pub started: Duration,
    pub took: Duration,
    pub result: Result<String, tonic::Status>,
}

/// Makes `calls` calls with `in_flight` of them at a time, and returns them in no given order.
pub async fn load(client: &BClient<MeshChannel>, calls: usize, in_flight: usize) -> Vec<Call> {
    load_while(client, in_flight, move |started, _| started < calls).await
}

/// Makes calls with `in_flight` of them at a time for `duration`, and returns them in no given
/// order.
pub async fn load_for(
    client: &BClient<MeshChannel>,
    duration: Duration,
    in_flight: usize,
) -> Vec<Call> {
    load_while(client, in_flight, move |_, elapsed| elapsed < duration).await
}

/// Starts calls, `in_flight` at a time, while `more(calls started, time since the start)`.
async fn load_while(
    client: &BClient<MeshChannel>,
    in_flight: usize,
    more: impl Fn(usize, Duration) -> bool + Clone + Send + 'static,
) -> Vec<Call> {
    let start = tokio::time::Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..in_flight {
        let (client, next, more) = (client.clone(), next.clone(), more.clone());
        workers.spawn(async move {
            let mut done = Vec::new();
            while more(next.fetch_add(1, Ordering::Relaxed), start.elapsed()) {
                let started = start.elapsed();
                let result = client
                    .clone()
                    .get(GetRequest {
                        caller: "load".into(),
                    })
                    .await
                    .map(|reply| reply.into_inner().replica);
                done.push(Call {
                    started,
                    took: start.elapsed() - started,
                    result,
                });
            }
            done
        });
    }
    workers.join_all().await.into_iter().flatten().collect()
}

/// One `Get` through `client`: the replica that answered, or the status.
pub async fn get(client: &BClient<MeshChannel>) -> Result<String, tonic::Status> {
    client
        .clone()
        .get(GetRequest {
            caller: "test".into(),
        })
        .await
        .map(|reply| reply.into_inner().replica)
}

/// Waits until `want` holds for the ports of the endpoints in `eds`; returns how long it took.
pub async fn wait_for_endpoints(
    eds: &mut ResourceWatch<ClusterLoadAssignment>,
    want: impl Fn(&BTreeSet<u16>) -> bool,
) -> Duration {
    let start = tokio::time::Instant::now();
    loop {
        let now: BTreeSet<u16> = match eds.current() {
            ResourceState::Present(cla) => cla.endpoints.iter().map(|e| e.address.port()).collect(),
            _ => BTreeSet::new(),
        };
        if want(&now) {
            return start.elapsed();
        }
        if tokio::time::timeout(Duration::from_secs(20), eds.changed())
            .await
            .is_err()
        {
            panic!("the endpoints stayed {now:?}");
        }
    }
}

/// How many of `calls` failed, by status code and message.
pub fn failures(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for call in calls {
        if let Err(status) = &call.result {
            let key = format!("{:?}: {}", status.code(), status.message());
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    counts
}

/// Makes `n` calls and counts the answers by replica; failures are counted under `"error: ..."`.
pub async fn call_n(client: &BClient<MeshChannel>, n: usize) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for _ in 0..n {
        let key = match client
            .clone()
            .get(GetRequest {
                caller: "test".into(),
            })
            .await
        {
            Ok(reply) => reply.into_inner().replica,
            Err(status) => format!("error: {:?} {}", status.code(), status.message()),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}
