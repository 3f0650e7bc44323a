//! Deadline propagation end to end: a server handler that calls onward through a MeshChannel
//! (serviceA's shape) is bounded by its caller's `grpc-timeout`, and passes on what is left.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use examples::pb::service_b_client::ServiceBClient as BClient;
use examples::pb::service_b_server::{ServiceB, ServiceBServer};
use examples::pb::{GetReply, GetRequest};
use mesh_client::MeshChannel;
use mesh_core::deadline::{GRPC_TIMEOUT, parse_timeout};
use mesh_server::MeshServer;
use support::{Mesh, PLAINTEXT, assert_eventually, static_service};
use tonic::{Request, Response, Status};

/// A server that records the `grpc-timeout` of each call; calls from `slow` wait 10 s, and it
/// records how long the last of those lasted before it ended or was dropped.
#[derive(Clone, Default)]
struct Recorder {
    timeouts: Arc<Mutex<Vec<Option<Duration>>>>,
    slow_lasted: Arc<Mutex<Option<Duration>>>,
}

/// Records, when dropped, how long it lived.
struct Lifetime(Arc<Mutex<Option<Duration>>>, tokio::time::Instant);

impl Drop for Lifetime {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = Some(self.1.elapsed());
    }
}

#[tonic::async_trait]
impl ServiceB for Recorder {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        let timeout = request
            .metadata()
            .as_ref()
            .get(GRPC_TIMEOUT)
            .map(|v| parse_timeout(v).expect("a valid grpc-timeout"));
        self.timeouts.lock().unwrap().push(timeout);
        if request.get_ref().caller == "slow" {
            let _lifetime = Lifetime(self.slow_lasted.clone(), tokio::time::Instant::now());
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        Ok(Response::new(GetReply {
            replica: "recorder".into(),
            ..GetReply::default()
        }))
    }
}

/// serviceA's shape: a handler that calls onward through a MeshChannel, passing the caller on.
#[derive(Clone)]
struct Relay {
    onward: BClient<MeshChannel>,
}

#[tonic::async_trait]
impl ServiceB for Relay {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetReply>, Status> {
        self.onward.clone().get(request.into_inner()).await
    }
}

/// Serves `service` on a loopback port with mesh-server (no xDS) and returns the address.
async fn serve(service: impl ServiceB) -> std::net::SocketAddr {
    let server = MeshServer::builder().bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr();
    let router = tonic::service::Routes::new(ServiceBServer::new(service)).into_axum_router();
    tokio::spawn(server.serve(router, std::future::pending()));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_deadline_bounds_the_calls_made_while_serving_it() {
    let recorder = Recorder::default();
    let recorder_addr = serve(recorder.clone()).await;
    let mesh = Mesh::start(&[(
        "mesh.yaml",
        &format!(
            "{PLAINTEXT}---\n{}",
            static_service("recorder", recorder_addr.port())
        ),
    )])
    .await;
    let relay = Relay {
        onward: mesh.client_with("xds:///recorder.demo:50051", None),
    };
    let relay_addr = serve(relay).await;
    let caller = BClient::new(
        tonic::transport::Channel::from_shared(format!("http://{relay_addr}"))
            .unwrap()
            .connect_lazy(),
    );
    let call = |who: &str, timeout: Duration| {
        let mut request = Request::new(GetRequest { caller: who.into() });
        request.set_timeout(timeout);
        let mut caller = caller.clone();
        async move { caller.get(request).await }
    };
    // The relay's channel has its config and the recorder answers.
    assert_eventually("the relay answers", Duration::from_secs(20), || async {
        call("fast", Duration::from_secs(10))
            .await
            .map(drop)
            .map_err(|s| format!("{s:?}"))
    })
    .await;

    let start = tokio::time::Instant::now();
    let status = call("slow", Duration::from_millis(800))
        .await
        .expect_err("a call to a recorder that waits 10 s succeeded within 800 ms");
    let took = start.elapsed();
    // The caller's own timer and the relay's DEADLINE_EXCEEDED race; tonic reports the first
    // as CANCELLED.
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(took < Duration::from_secs(3), "the call took {took:?}");
    // The onward call carried what was left of the caller's 800 ms...
    let seen = *recorder.timeouts.lock().unwrap().last().unwrap();
    let left = seen.expect("the onward call carried no grpc-timeout");
    assert!(
        left <= Duration::from_millis(800) && left > Duration::ZERO,
        "the onward call's grpc-timeout was {left:?}"
    );
    // ...so the work two hops down stopped when nobody waited for it any more, not after 10 s.
    assert_eventually(
        "the recorder's slow handler ends",
        Duration::from_secs(3),
        || async {
            match *recorder.slow_lasted.lock().unwrap() {
                Some(lasted) if lasted < Duration::from_secs(2) => Ok(()),
                other => Err(format!("lasted {other:?}")),
            }
        },
    )
    .await;
}
