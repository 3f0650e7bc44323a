//! The server side of the mesh end to end, with real processes: mesh-control's
//! AuthorizationPolicy and RateLimitPolicy enforced by serviceB (tonic and axum on one port),
//! policy changes applied live, and a graceful drain. (A grpcio xDS server enforcing the same
//! AuthorizationPolicy is in `interop_grpcio.rs`.)

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient as BClient;
use http_body_util::BodyExt;
use mesh_client::{MeshChannel, MeshHttpClient};
use mesh_core::xds::XdsClient;
use support::{
    Mesh, assert_eventually, authorize_only, failures, get, join_all, load_for, split_config,
    wait_for_endpoints,
};
use tokio::time::Instant;

const TARGET: &str = "xds:///serviceb-v1.demo:50051";
const HELLO: &str = "http://serviceb-v1.demo:50051/hello";
/// The ClusterLoadAssignment of serviceb-v1's port.
const EDS_NAME: &str = "serviceb-v1.demo.svc.cluster.local:50051";
const SERVICEA: &str = "spiffe://cluster.local/ns/demo/sa/servicea";

/// The demo config (serviceb-v1 PERMISSIVE, clients speaking mTLS) and the documents `more`.
fn config(more: &str) -> String {
    format!("{}---\n{more}", split_config(1, 0))
}

/// A client of [`TARGET`] and an HTTP client, both with the identity join `token` proves.
async fn clients(mesh: &Mesh, token: &str) -> (BClient<MeshChannel>, MeshHttpClient) {
    let xds = XdsClient::builder()
        .bootstrap(mesh.bootstrap(&format!("test-{token}")))
        .build()
        .unwrap();
    let builder = MeshChannel::builder().identity(mesh.identity(token).await);
    let grpc = BClient::new(builder.channel(&xds, TARGET).unwrap());
    (grpc, builder.http_client(&xds))
}

/// `GET /hello` through `client`: the status code and the body.
async fn hello(client: &MeshHttpClient) -> (u16, String) {
    let response = client.get(HELLO).await.expect("an HTTP response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("a body");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_policy_admits_servicea_and_refuses_the_impostor_over_grpc_and_http() {
    let mut mesh = Mesh::start(&[(
        "mesh.yaml",
        &config(&authorize_only("servicea", "serviceb-v1")),
    )])
    .await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let (servicea, servicea_http) = clients(&mesh, "dev-servicea").await;
    let (impostor, impostor_http) = clients(&mesh, "dev-impostor").await;

    // The policy is in force once the impostor is refused (the server may start serving
    // before its inbound listener arrives).
    assert_eventually(
        "the impostor is refused with PERMISSION_DENIED",
        Duration::from_secs(20),
        || async {
            match get(&impostor).await {
                Err(s) if s.code() == tonic::Code::PermissionDenied => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let denied = get(&impostor).await.unwrap_err();
    // No rule allows the impostor: the message says it was the default action.
    assert!(denied.message().contains("default action"), "{denied:?}");
    for _ in 0..10 {
        let denied = get(&impostor).await.unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
        let reply = servicea
            .clone()
            .get(GetRequest {
                caller: "servicea".into(),
            })
            .await
            .expect("serviceA is allowed")
            .into_inner();
        assert_eq!(
            (reply.replica.as_str(), reply.peer.as_str()),
            ("serviceb-v1", SERVICEA)
        );
        // The axum router on the same port, through the same policy.
        let (status, body) = hello(&servicea_http).await;
        assert_eq!((status, body.as_str()), (200, "hello from serviceb-v1\n"));
        let (status, body) = hello(&impostor_http).await;
        assert_eq!(status, 403, "the impostor got {status} {body:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_applies_within_a_second_without_touching_calls_in_flight() {
    const SLOW: Duration = Duration::from_secs(2);
    let mut mesh = Mesh::start(&[(
        "mesh.yaml",
        &config(&authorize_only("servicea", "serviceb-v1")),
    )])
    .await;
    mesh.start_service_b_with(
        "serviceb-v1",
        "serviceb-v1.demo:50051",
        "dev-serviceb",
        &["--delay", "2s"],
    )
    .await;
    let (servicea, _) = clients(&mesh, "dev-servicea").await;
    let (impostor, _) = clients(&mesh, "dev-impostor").await;
    assert_eventually(
        "the policy is in force",
        Duration::from_secs(20),
        || async {
            match get(&impostor).await {
                Err(s) if s.code() == tonic::Code::PermissionDenied => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    // 20 slow calls of serviceA in flight, then serviceA loses its permission.
    let start = Instant::now();
    let in_flight: Vec<_> = (0..20)
        .map(|_| {
            let client = servicea.clone();
            tokio::spawn(async move { (get(&client).await, start.elapsed()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    mesh.write(
        "mesh.yaml",
        &config(&authorize_only("impostor", "serviceb-v1")),
    );
    let changed = start.elapsed();

    // New calls of serviceA, one every 20 ms, until one is refused: denials are immediate,
    // admitted calls take SLOW.
    let refused = Arc::new(AtomicBool::new(false));
    let mut probes = Vec::new();
    while !refused.load(Ordering::Relaxed) && start.elapsed() < changed + Duration::from_secs(5) {
        let (client, refused) = (servicea.clone(), refused.clone());
        let sent = start.elapsed();
        probes.push(tokio::spawn(async move {
            let result = get(&client).await;
            if matches!(&result, Err(s) if s.code() == tonic::Code::PermissionDenied) {
                refused.store(true, Ordering::Relaxed);
            }
            (sent, result)
        }));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut probes: Vec<_> = join_all(probes).await;
    probes.sort_by_key(|(sent, _)| *sent);
    let first_refused = probes
        .iter()
        .find(|(_, r)| r.is_err())
        .map(|(sent, _)| *sent)
        .expect("serviceA was never refused after the policy change");
    let took = first_refused.saturating_sub(changed);
    eprintln!("the policy change applied {took:?} after the file was written");
    for (sent, result) in &probes {
        match result {
            Ok(replica) => assert!(
                *sent <= first_refused + Duration::from_millis(50),
                "admitted after the first refusal: {replica}"
            ),
            Err(s) => assert_eq!(s.code(), tonic::Code::PermissionDenied, "{s:?}"),
        }
    }
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // Every call in flight across the change completed, after it.
    for call in join_all(in_flight).await {
        let (result, done) = call;
        assert_eq!(result.as_deref().ok(), Some("serviceb-v1"), "{result:?}");
        assert!(done > first_refused && done >= SLOW, "finished at {done:?}");
    }
    // And the new policy admits the impostor.
    assert_eq!(get(&impostor).await.ok().as_deref(), Some("serviceb-v1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_replica_finishes_its_calls_after_leaving_eds() {
    const SLOW: Duration = Duration::from_secs(5);
    let mut mesh = Mesh::start(&[("mesh.yaml", &split_config(1, 0))]).await;
    let slow = mesh
        .start_service_b_with(
            "slow",
            "serviceb-v1.demo:50051",
            "dev-serviceb",
            &["--delay", "5s"],
        )
        .await;
    // One xDS client for the calls and the EDS watch: the test sees what the channel sees.
    let xds = XdsClient::builder()
        .bootstrap(mesh.bootstrap("drain-test"))
        .build()
        .unwrap();
    let mut eds = xds.endpoints(EDS_NAME);
    let identity = mesh.identity("dev-servicea").await;
    let client = BClient::new(
        MeshChannel::builder()
            .identity(identity)
            .channel(&xds, TARGET)
            .unwrap(),
    );
    wait_for_endpoints(&mut eds, |p| p.len() == 1 && p.contains(&slow.port())).await;

    // 100 slow calls, which can only go to the slow replica.
    let start = Instant::now();
    let in_flight: Vec<_> = (0..100)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { (get(&client).await, start.elapsed()) })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fast = mesh.start_service_b("fast", "serviceb-v1.demo:50051").await;
    wait_for_endpoints(&mut eds, |p| p.len() == 2).await;

    let sigterm = start.elapsed();
    let stopping = tokio::spawn(mesh.take("slow").stop(Duration::from_secs(40)));
    let stop_load = Arc::new(AtomicBool::new(false));
    // New calls all through the drain, gently (2 cores run it all).
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (client, stop) = (client.clone(), stop_load.clone());
            tokio::spawn(async move {
                let mut calls = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = start.elapsed();
                    calls.push((sent, get(&client).await));
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                calls
            })
        })
        .collect();
    let left = wait_for_endpoints(&mut eds, |p| p.len() == 1 && p.contains(&fast.port())).await;
    let left_eds = start.elapsed();
    eprintln!("the slow replica left EDS {left:?} after SIGTERM");
    assert!(left < Duration::from_secs(3), "left EDS after {left:?}");
    stopping.await.unwrap();
    let exited = start.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_load.store(true, Ordering::Relaxed);

    let calls = join_all(in_flight).await;
    assert!(
        calls.iter().all(|(_, done)| *done > sigterm),
        "calls finished before the drain began: the test proves nothing (SIGTERM at {sigterm:?})"
    );
    for (result, done) in &calls {
        assert_eq!(result.as_deref().ok(), Some("slow"), "{result:?}");
        assert!(*done >= SLOW, "done at {done:?}");
    }
    assert!(
        exited < sigterm + Duration::from_secs(30),
        "the slow replica did not exit by itself (SIGTERM at {sigterm:?}, gone at {exited:?})"
    );
    let load: Vec<_> = join_all(load).await.into_iter().flatten().collect();
    eprintln!(
        "SIGTERM at {sigterm:?}, left EDS at {left_eds:?}, exited at {exited:?}; {} calls during the drain, {} to slow",
        load.len(),
        load.iter()
            .filter(|(_, r)| r.as_deref().ok() == Some("slow"))
            .count()
    );
    let grace = Duration::from_millis(200);
    for (sent, result) in &load {
        assert!(result.is_ok(), "a call sent at {sent:?} failed: {result:?}");
        if *sent > left_eds + grace {
            assert_eq!(result.as_deref().ok(), Some("fast"), "sent at {sent:?}");
        }
    }
    assert!(
        load.iter().any(|(sent, _)| *sent > left_eds + grace),
        "no call after the drain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_admits_its_rate_and_refuses_the_rest() {
    const RATE: f64 = 50.0;
    const SECONDS: u64 = 5;
    let rate_limit = r#"apiVersion: mesh.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: rate, namespace: demo }
spec:
  targetRefs: [{ kind: Service, name: serviceb-v1 }]
  requestsPerSecond: 50
  burst: 5
"#;
    let mut mesh = Mesh::start(&[("mesh.yaml", &config(rate_limit))]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let client = mesh.client(TARGET).await;
    assert_eventually(
        "the rate limit is in force",
        Duration::from_secs(20),
        || async {
            let calls = load_for(&client, Duration::from_millis(200), 8).await;
            let f = failures(&calls);
            if f.keys().any(|k| k.starts_with("ResourceExhausted")) {
                Ok(())
            } else {
                Err(format!("{} calls, failures {f:?}", calls.len()))
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Bounded: a call stuck on a broken connection must fail the test, not hang it.
    let calls = tokio::time::timeout(
        Duration::from_secs(SECONDS + 20),
        load_for(&client, Duration::from_secs(SECONDS), 8),
    )
    .await
    .expect("calls hung under the rate limit");
    let accepted = calls.iter().filter(|c| c.result.is_ok()).count();
    let rate = accepted as f64 / SECONDS as f64;
    eprintln!(
        "{} calls in {SECONDS} s, {accepted} accepted ({rate}/s)",
        calls.len()
    );
    assert!(
        calls.len() as f64 >= 4.0 * RATE * SECONDS as f64,
        "the offered load was not well above the rate: {} calls",
        calls.len()
    );
    assert!(
        (rate - RATE).abs() <= RATE * 0.1,
        "accepted {rate}/s for a limit of {RATE}/s"
    );
    let other: Vec<_> = failures(&calls)
        .into_iter()
        .filter(|(status, _)| !status.starts_with("ResourceExhausted"))
        .collect();
    assert!(
        other.is_empty(),
        "calls failed otherwise than RESOURCE_EXHAUSTED: {other:?}"
    );
    for call in &calls {
        if let Err(status) = &call.result {
            let pushback = status
                .metadata()
                .get("grpc-retry-pushback-ms")
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            assert!(pushback.is_some(), "no retry pushback: {status:?}");
        }
    }
}
