//! The TLS port's certificate, its renewal, and handshakes through [`incoming`].

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio_stream::StreamExt;
use x509_parser::extensions::GeneralName;

use super::*;
use crate::ca::test_authority;

#[test]
fn the_server_certificate_names_mesh_control_and_localhost() {
    let (_dir, ca) = test_authority(Duration::from_secs(3600));
    let cert = ServerCertificate::new(ca).unwrap();
    let issued = cert.current();
    let (_, leaf) = x509_parser::parse_x509_certificate(&issued.chain_der[0]).unwrap();
    let sans = &leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert_eq!(
        sans[0],
        GeneralName::URI("spiffe://cluster.local/ns/mesh-system/sa/mesh-control")
    );
    assert_eq!(sans[1], GeneralName::DNSName("localhost"));
    assert_eq!(sans[2], GeneralName::IPAddress(&[127, 0, 0, 1]));
}

#[tokio::test(start_paused = true)]
async fn renews_at_seventy_percent_of_its_life() {
    let (_dir, ca) = test_authority(Duration::from_secs(100));
    let cert = ServerCertificate::new(ca).unwrap();
    let first = cert.current().serial;
    tokio::spawn(renew(cert.clone()));
    tokio::time::sleep(Duration::from_secs(68)).await;
    assert_eq!(cert.current().serial, first, "renewed too early");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second = cert.current();
    assert_ne!(second.serial, first, "not renewed at 70 %");
    let life = second.not_after.duration_since(second.issued_at).unwrap();
    assert_eq!(life, Duration::from_secs(100));
}

fn client(ca: &CertificateAuthority) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.root().cert_der().clone()).unwrap();
    let mut config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn serves_tls_that_clients_of_the_mesh_verify() {
    let (_dir, ca) = test_authority(Duration::from_secs(3600));
    let config = server_config(ServerCertificate::new(ca.clone()).unwrap()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut connections = incoming(listener, config);

    // A client that does not finish its handshake holds up no one.
    let _stalled = TcpStream::connect(addr).await.unwrap();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let patience = Duration::from_secs(20);
    let client_side = tokio::time::timeout(patience, client(&ca).connect(name, tcp))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client_side.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let server_side = tokio::time::timeout(patience, connections.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(server_side.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    assert!(server_side.get_ref().1.peer_certificates().is_none());
}
