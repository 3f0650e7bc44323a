//! mTLS end to end with real processes: identities issued in-process by mesh-control's CA,
//! verified both ways by SPIFFE ID as xDS says, rotated under load.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient;
use mesh_client::MeshChannel;
use mesh_core::identity::{Identity, PeerIdentity};
use mesh_core::xds::XdsClient;
use support::{Mesh, assert_eventually, call_n, split_config};

const TARGET: &str = "xds:///serviceb.demo:50051";
const SERVICEA: &str = "spiffe://cluster.local/ns/demo/sa/servicea";
const SERVICEB: &str = "spiffe://cluster.local/ns/demo/sa/serviceb";

/// The split config, with every Service of `demo` STRICT and served as demo/serviceb only.
fn strict_config(v1: u32, v2: u32) -> String {
    format!(
        r#"{}---
apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: {{ name: strict, namespace: demo }}
spec: {{ mode: STRICT, serviceAccounts: [serviceb] }}
"#,
        split_config(v1, v2)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mtls_verifies_both_sides_and_hands_peer_ids_to_both() {
    let mut mesh = Mesh::start(&[("mesh.yaml", &strict_config(1, 0))]).await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let client = mesh.client(TARGET).await;

    let response = assert_eventually_ok(&client).await;
    let server = response
        .extensions()
        .get::<PeerIdentity>()
        .map(|p| p.0.to_string());
    assert_eq!(
        server.as_deref(),
        Some(SERVICEB),
        "the client did not authenticate serviceB"
    );
    assert_eq!(
        response.get_ref().peer,
        SERVICEA,
        "serviceB's handler did not see serviceA's identity"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_refuses_clients_without_identity_and_plaintext_callers() {
    let mut mesh = Mesh::start(&[("mesh.yaml", &strict_config(1, 0))]).await;
    let b = mesh
        .start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    assert_eventually_ok(&mesh.client(TARGET).await).await;

    // A MeshChannel without an identity refuses to speak plaintext to a STRICT service.
    let anonymous = mesh.client_with(TARGET, None);
    let err = anonymous
        .clone()
        .get(GetRequest {
            caller: "anonymous".into(),
        })
        .await
        .unwrap_err();
    assert!(err.message().contains("requires mTLS"), "{err:?}");

    // A plaintext gRPC client straight to serviceB's address is refused by the server, which
    // logs the refusal.
    let channel = tonic::transport::Channel::from_shared(format!("http://{b}"))
        .unwrap()
        .connect_lazy();
    let err = ServiceBClient::new(channel)
        .get(GetRequest {
            caller: "plaintext".into(),
        })
        .await
        .unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");
    let replica = mesh.proc("serviceb-v1");
    assert_eventually(
        "serviceB logs the refused plaintext connection",
        Duration::from_secs(5),
        || async {
            let log = replica.log().await;
            if log.contains("refused a connection") && log.to_lowercase().contains("plaintext") {
                Ok(())
            } else {
                Err(log)
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_an_unexpected_identity_is_refused() {
    // serviceb-v2 is served by a workload whose credential proves demo/impostor, while the
    // policy says serviceB's servers are demo/serviceb.
    let mut mesh = Mesh::start(&[("mesh.yaml", &strict_config(0, 1))]).await;
    mesh.start_service_b_as("serviceb-v2", "serviceb-v2.demo:50051", "dev-impostor")
        .await;
    let client = mesh.client(TARGET).await;
    assert_eventually(
        "the impostor is refused by the client",
        Duration::from_secs(20),
        || async {
            match client
                .clone()
                .get(GetRequest {
                    caller: "test".into(),
                })
                .await
            {
                Ok(reply) => Err(format!("the call succeeded: {:?}", reply.get_ref())),
                Err(status)
                    if status.message().contains("impostor")
                        && status.message().contains("not one of the expected") =>
                {
                    Ok(())
                }
                Err(status) => Err(format!("{status:?}")),
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_under_load_with_no_failed_call() {
    // 10 s certificates: each side renews about every 7 s.
    let mut mesh = Mesh::start_with(
        &[("mesh.yaml", &strict_config(1, 0))],
        &["--svid-ttl", "10"],
    )
    .await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let identity = mesh.identity("dev-servicea").await;
    assert_eventually_ok(&mesh.client_with(TARGET, Some(identity.clone()))).await;

    let warm = warm_xds(&mesh, &identity).await;
    let (ok, failed) = load(&warm, identity.clone(), Duration::from_secs(30)).await;
    let log = mesh.control_log().await;
    let server_certs = log
        .lines()
        .filter(|l| l.contains("certificate signed") && l.contains("sa/serviceb"))
        .count();
    let client_certs = log
        .lines()
        .filter(|l| l.contains("certificate signed") && l.contains("sa/servicea"))
        .count();
    eprintln!(
        "{ok} calls, {failed} failed; certificates signed: serviceB {server_certs}, serviceA {client_certs}"
    );
    assert_eq!(failed, 0, "calls failed across certificate rotations");
    assert!(ok > 1000, "too few calls to mean anything: {ok}");
    assert!(
        server_certs >= 4,
        "serviceB rotated fewer than 3 times: {server_certs} certificates"
    );
    assert!(
        client_certs >= 4,
        "serviceA rotated fewer than 3 times: {client_certs} certificates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_keep_working_while_the_ca_is_unreachable_past_a_rotation() {
    // 30 s certificates are renewed at about 21 s: mesh-control is down from the start until
    // after that point, so the first renewal fails on both sides.
    let mut mesh = Mesh::start_with(
        &[("mesh.yaml", &strict_config(1, 0))],
        &["--svid-ttl", "30"],
    )
    .await;
    mesh.start_service_b("serviceb-v1", "serviceb-v1.demo:50051")
        .await;
    let identity = mesh.identity("dev-servicea").await;
    let first = identity.current();
    assert_eventually_ok(&mesh.client_with(TARGET, Some(identity.clone()))).await;

    let warm = warm_xds(&mesh, &identity).await;
    mesh.kill_control().await;
    let (ok, failed) = load(&warm, identity.clone(), Duration::from_secs(23)).await;
    assert_eq!(failed, 0, "calls failed while the CA was unreachable");
    assert!(ok > 500, "too few calls: {ok}");
    assert_eq!(
        identity.current().not_after,
        first.not_after,
        "renewed without a CA?"
    );

    // Back before the certificates expire: both sides renew, and calls go on.
    mesh.restart_control().await;
    assert_eventually(
        "serviceA renews once the CA is back",
        Duration::from_secs(8),
        || async {
            if identity.current().not_after > first.not_after {
                Ok(())
            } else {
                Err("not yet".into())
            }
        },
    )
    .await;
    // serviceB registers again once its xDS client's backoff lets it reconnect.
    let client = mesh.client_with(TARGET, Some(identity));
    assert_eventually(
        "calls go on after the CA is back",
        Duration::from_secs(30),
        || async {
            let counts = call_n(&client, 50).await;
            if counts.get("serviceb-v1") == Some(&50) {
                Ok(())
            } else {
                Err(format!("{counts:?}"))
            }
        },
    )
    .await;
}

/// An xDS client of `mesh` and a client of serviceB on it that already gets answers. While
/// that client lives, the xDS client's cache holds serviceB's config (a resource nobody
/// watches any more is forgotten), so new MeshChannels on it work while mesh-control is away.
async fn warm_xds(mesh: &Mesh, identity: &Identity) -> (XdsClient, ServiceBClient<MeshChannel>) {
    let xds = XdsClient::builder()
        .bootstrap(mesh.bootstrap("load"))
        .build()
        .unwrap();
    let channel = MeshChannel::builder()
        .identity(identity.clone())
        .channel(&xds, TARGET)
        .unwrap();
    let client = ServiceBClient::new(channel);
    assert_eventually_ok(&client).await;
    (xds, client)
}

async fn load(
    (xds, long_lived): &(XdsClient, ServiceBClient<MeshChannel>),
    identity: Identity,
    duration: Duration,
) -> (usize, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let builder = MeshChannel::builder().identity(identity);
    let channel = move |xds: &XdsClient| ServiceBClient::new(builder.channel(xds, TARGET).unwrap());
    let mut tasks = Vec::new();
    for reconnect in [false, true] {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let (xds, channel, mut client) = (xds.clone(), channel.clone(), long_lived.clone());
        tasks.push(tokio::spawn(async move {
            let mut since = tokio::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if reconnect && since.elapsed() > Duration::from_secs(1) {
                    client = channel(&xds);
                    since = tokio::time::Instant::now();
                }
                match client
                    .get(GetRequest {
                        caller: "load".into(),
                    })
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("call failed: {status:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed))
}

async fn assert_eventually_ok(
    client: &ServiceBClient<mesh_client::MeshChannel>,
) -> tonic::Response<examples::pb::GetReply> {
    let mut last = None;
    for _ in 0..200 {
        match client
            .clone()
            .get(GetRequest {
                caller: "test".into(),
            })
            .await
        {
            Ok(response) => return response,
            Err(status) => last = Some(status),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("serviceB never answered: {last:?}");
}
