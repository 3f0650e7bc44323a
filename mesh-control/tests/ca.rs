//! The real `mesh-control` binary as a CA: `serve` signs CSRs for join tokens of its config, in
//! plaintext and over TLS; `bootstrap --cert-dir` writes certificates for non-Rust apps.

mod support;

use std::path::Path;

use mesh_core::identity::proto::IstioCertificateRequest;
use mesh_core::identity::proto::istio_certificate_service_client::IstioCertificateServiceClient;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::{PATIENCE, run, start_serving, text};
use tonic::transport::Channel;

const JOIN_TOKEN: &str = "\
apiVersion: mesh.dev/v1alpha1
kind: JoinToken
metadata: {name: servicea, namespace: demo}
spec: {token: test-token-a, serviceAccount: servicea}
";

fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokens.yaml"), JOIN_TOKEN).unwrap();
    dir
}

fn request(token: &str) -> tonic::Request<IstioCertificateRequest> {
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::default()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let mut request = tonic::Request::new(IstioCertificateRequest {
        csr,
        validity_duration: 3600,
    });
    let value = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
}

fn der_chain(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn serve_signs_csrs_for_join_tokens_and_refuses_others() {
    let (config, state) = (config_dir(), tempfile::tempdir().unwrap());
    let serving = start_serving(config.path(), state.path()).await;
    let channel = tokio::time::timeout(
        PATIENCE,
        Channel::from_shared(format!("http://{}", serving.addr))
            .unwrap()
            .connect(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut ca = IstioCertificateServiceClient::new(channel);

    let chain = ca
        .create_certificate(request("test-token-a"))
        .await
        .unwrap()
        .into_inner()
        .cert_chain;
    assert_eq!(chain.len(), 2);
    let leaf = der_chain(&chain[0]);
    let id = spiffe::cert::spiffe_id_from_der(&leaf[0]).unwrap();
    assert_eq!(id.to_string(), "spiffe://cluster.local/ns/demo/sa/servicea");
    let root = std::fs::read_to_string(state.path().join("ca-cert.pem")).unwrap();
    assert_eq!(
        chain[1], root,
        "the chain ends with the root kept in the state dir"
    );

    let status = ca.create_certificate(request("wrong")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert_eq!(status.message(), "unknown join token");
    assert!(!serving.tls_addr.is_empty());
}

fn bootstrap(state: &Path, cert_dir: &Path) -> std::process::Output {
    run(&[
        "bootstrap",
        "--node-id",
        "py-1",
        "--identity",
        "demo/servicea",
        "--cert-dir",
        cert_dir.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ])
}

#[tokio::test]
async fn bootstrap_writes_cert_files_for_the_file_watcher() {
    let (config, state) = (config_dir(), tempfile::tempdir().unwrap());
    let out = tempfile::tempdir().unwrap();
    let cert_dir = out.path().join("certs");

    let before = bootstrap(state.path(), &cert_dir);
    assert!(!before.status.success());
    assert!(
        text(&before).contains("start mesh-control serve first or pass --state-dir"),
        "{}",
        text(&before)
    );

    // `serve` makes the CA; `bootstrap` signs with it, while it runs or not.
    drop(start_serving(config.path(), state.path()).await);
    let output = bootstrap(state.path(), &cert_dir);
    assert!(output.status.success(), "{}", text(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["node"]["id"], "py-1");
    assert_eq!(
        json["server_listener_resource_name_template"],
        "grpc/server?xds.resource.listening_address=%s"
    );
    let provider = &json["certificate_providers"]["default"];
    assert_eq!(provider["plugin_name"], "file_watcher");
    let file = |field: &str| {
        let path = Path::new(provider["config"][field].as_str().unwrap()).to_path_buf();
        assert!(path.is_absolute(), "{field}: {path:?}");
        std::fs::read_to_string(path).unwrap()
    };
    let root = std::fs::read_to_string(state.path().join("ca-cert.pem")).unwrap();
    assert_eq!(file("ca_certificate_file"), root);
    let chain = der_chain(&file("certificate_file"));
    assert_eq!(chain.len(), 2);
    let id = spiffe::cert::spiffe_id_from_der(&chain[0]).unwrap();
    assert_eq!(id.to_string(), "spiffe://cluster.local/ns/demo/sa/servicea");
    assert!(file("private_key_file").contains("PRIVATE KEY"));
    assert_eq!(provider["config"]["refresh_interval"], "60s");
}
