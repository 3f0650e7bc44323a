//! The cost of mTLS in the mesh: one full handshake (TLS 1.3, ECDSA P-256, SPIFFE verification
//! on both sides), and one gRPC call through the whole mesh stack (mesh-control in-process, a
//! MeshServer, a MeshChannel) with the Service STRICT versus DISABLE, on loopback.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use examples::pb::GetRequest;
use examples::pb::service_b_client::ServiceBClient;
use examples::service_b::{Replica, router};
use mesh_client::MeshChannel;
use mesh_control::ca::{CertificateAuthority, RootCa};
use mesh_control::config::load_documents;
use mesh_control::server::{Listeners, ServeSettings, serve};
use mesh_core::bootstrap::Bootstrap;
use mesh_core::identity::Identity;
use mesh_core::xds::XdsClient;
use mesh_server::MeshServer;
use rustls::pki_types::ServerName;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const CONFIG: &str = r#"
apiVersion: v1
kind: Service
metadata: { name: bench, namespace: demo }
spec: { ports: [{ name: grpc, port: 50051 }] }
---
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: { name: client, namespace: demo }
spec: { token: bench-client, serviceAccount: client }
---
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: { name: server, namespace: demo }
spec: { token: bench-server, serviceAccount: server }
---
apiVersion: mesh.dev/v1alpha1
kind: TLSPolicy
metadata: { name: mode, namespace: demo }
spec: { mode: MODE }
"#;

/// A running mesh: mesh-control, one meshed server, and a client identity.
struct Mesh {
    bootstrap: Bootstrap,
    client: Identity,
    _state: tempfile::TempDir,
}

async fn start_mesh(mode: &str) -> Mesh {
    let state = tempfile::tempdir().unwrap();
    let (root, _) = RootCa::load_or_generate(state.path()).unwrap();
    let ca = Arc::new(CertificateAuthority::new(
        root,
        "cluster.local".try_into().unwrap(),
        Duration::from_secs(3600),
    ));
    let yaml = CONFIG.replace("MODE", mode);
    let config = load_documents(&[("bench.yaml".into(), yaml)]).unwrap();
    let (_config_tx, config_rx) = tokio::sync::watch::channel(Arc::new(config));
    let plaintext = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bootstrap = Bootstrap::insecure(plaintext.local_addr().unwrap().to_string(), "bench");
    let settings = ServeSettings::new(ca);
    let listeners = Listeners {
        plaintext,
        tls: None,
        admin: None,
    };
    tokio::spawn(async move {
        let _keep = _config_tx;
        serve(
            listeners,
            config_rx,
            Default::default(),
            settings,
            std::future::pending(),
        )
        .await
    });

    let identity = |token: &'static str| {
        Identity::builder()
            .bootstrap(&bootstrap)
            .token(token)
            .start()
    };
    let server = MeshServer::builder()
        .bootstrap(bootstrap.clone())
        .identity(identity("bench-server").await.unwrap())
        .register("bench.demo:50051")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    tokio::spawn(server.serve(router(Replica::new("bench")), std::future::pending()));
    let client = identity("bench-client").await.unwrap();
    Mesh {
        bootstrap,
        client,
        _state: state,
    }
}

fn call_through_the_mesh(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let mut group = c.benchmark_group("grpc_call_through_the_mesh");
    for mode in ["DISABLE", "STRICT"] {
        let mesh = runtime.block_on(start_mesh(mode));
        let client = runtime.block_on(async {
            let xds = XdsClient::builder()
                .bootstrap(mesh.bootstrap.clone())
                .build()
                .unwrap();
            let channel = MeshChannel::builder()
                .identity(mesh.client.clone())
                .channel(&xds, "xds:///bench.demo:50051")
                .unwrap();
            let client = ServiceBClient::new(channel);
            // Wait for config, registration and the first connection.
            for _ in 0..200 {
                if client.clone().get(GetRequest::default()).await.is_ok() {
                    return client;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("the meshed server never answered ({mode})");
        });
        let name = if mode == "STRICT" {
            "mtls"
        } else {
            "plaintext"
        };
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let mut client = client.clone();
                async move { client.get(GetRequest::default()).await.unwrap() }
            })
        });
    }
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let runtime = Runtime::new().unwrap();
    let (client, server) = runtime.block_on(async {
        let mesh = start_mesh("STRICT").await;
        let server = Identity::builder()
            .bootstrap(&mesh.bootstrap)
            .token("bench-server")
            .start()
            .await
            .unwrap();
        (mesh.client, server)
    });
    let expected = vec![mesh_core::model::StringMatch::Exact(
        server.spiffe_id().to_string(),
    )];
    let connector = TlsConnector::from(client.client_config(expected, &[b"h2"]));
    let acceptor = TlsAcceptor::from(server.server_config());
    c.bench_function("mtls_handshake", |b| {
        b.to_async(&runtime).iter(|| {
            let (connector, acceptor) = (connector.clone(), acceptor.clone());
            async move {
                let (near, far) = tokio::io::duplex(64 * 1024);
                let name = ServerName::try_from("bench.demo").unwrap();
                let (client, server) =
                    tokio::join!(connector.connect(name, near), acceptor.accept(far));
                client.unwrap();
                server.unwrap();
            }
        })
    });
}

criterion_group!(benches, handshake, call_through_the_mesh);
criterion_main!(benches);
