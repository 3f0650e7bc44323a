//! Real TLS handshakes between identities, over in-memory pipes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::test_ca::TestCa;
use super::tls::provider;
use super::verify::SpiffeServerVerifier;
use super::{Identity, peer_spiffe_id};
use crate::model::StringMatch;

const CLIENT: &str = "spiffe://cluster.local/ns/demo/sa/servicea";
const SERVER: &str = "spiffe://cluster.local/ns/demo/sa/serviceb";

fn exact(id: &str) -> Vec<StringMatch> {
    vec![StringMatch::Exact(id.into())]
}

/// What one side saw: the peer's SPIFFE ID, or the error.
type Outcome = Result<Option<String>, String>;

/// Connects, then sends one ping and one pong so that a late refusal (TLS 1.3 verifies the
/// client after the client thinks it is done) shows on both sides.
async fn handshake(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> (Outcome, Outcome) {
    let (client_io, server_io) = tokio::io::duplex(64 * 1024);
    let client_side = async move {
        let name = ServerName::try_from("ignored.example").unwrap();
        let mut tls = TlsConnector::from(client)
            .connect(name, client_io)
            .await
            .map_err(|e| e.to_string())?;
        let peer = peer_spiffe_id(tls.get_ref().1.peer_certificates().unwrap_or_default());
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut pong = [0; 4];
        tls.read_exact(&mut pong).await.map_err(|e| e.to_string())?;
        Ok(peer.map(|id| id.to_string()))
    };
    let server_side = async move {
        let mut tls = TlsAcceptor::from(server)
            .accept(server_io)
            .await
            .map_err(|e| e.to_string())?;
        let peer = peer_spiffe_id(tls.get_ref().1.peer_certificates().unwrap_or_default());
        let mut ping = [0; 4];
        tls.read_exact(&mut ping).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok(peer.map(|id| id.to_string()))
    };
    let (client, server) = tokio::time::timeout(Duration::from_secs(30), async {
        tokio::join!(client_side, server_side)
    })
    .await
    .expect("the handshake finishes");
    (client, server)
}

fn identity(ca: &TestCa, id: &str) -> Identity {
    Identity::from_svid(ca.svid(id))
}

#[tokio::test]
async fn matching_ids_connect_and_both_sides_see_the_peer() {
    let ca = TestCa::new("mesh");
    let client = identity(&ca, CLIENT).client_config(exact(SERVER), &[b"h2"]);
    let server = identity(&ca, SERVER).server_config();
    let (client_saw, server_saw) = handshake(client, server).await;
    assert_eq!(client_saw, Ok(Some(SERVER.to_string())));
    assert_eq!(server_saw, Ok(Some(CLIENT.to_string())));
}

#[tokio::test]
async fn an_unexpected_server_is_refused_with_the_expected_list() {
    let ca = TestCa::new("mesh");
    let impostor = "spiffe://cluster.local/ns/demo/sa/impostor";
    let client = identity(&ca, CLIENT).client_config(exact(SERVER), &[]);
    let server = identity(&ca, impostor).server_config();
    let (client_saw, server_saw) = handshake(client, server).await;
    let err = client_saw.unwrap_err();
    assert!(
        err.contains(&format!(
            "server identity {impostor} is not one of the expected [exact {SERVER}]"
        )),
        "{err}"
    );
    assert!(server_saw.is_err());
}

#[tokio::test]
async fn another_trust_domain_is_refused_by_the_matcher() {
    let ca = TestCa::new("mesh");
    let client = identity(&ca, CLIENT).client_config(
        vec![StringMatch::Prefix("spiffe://cluster.local/".into())],
        &[],
    );
    let server = identity(&ca, "spiffe://other.domain/ns/demo/sa/serviceb").server_config();
    let (client_saw, _) = handshake(client, server).await;
    let err = client_saw.unwrap_err();
    assert!(
        err.contains("spiffe://other.domain/ns/demo/sa/serviceb is not one of"),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_from_another_ca_is_refused() {
    let (mesh, other) = (TestCa::new("mesh"), TestCa::new("other"));
    let client = identity(&mesh, CLIENT).client_config(exact(SERVER), &[]);
    let server = identity(&other, SERVER).server_config();
    let (client_saw, _) = handshake(client, server).await;
    let err = client_saw.unwrap_err();
    assert!(
        err.contains("unknown issuer (not signed by the mesh's trust bundle)"),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_from_another_ca_is_refused() {
    let (mesh, other) = (TestCa::new("mesh"), TestCa::new("other"));
    // The client trusts the mesh's root but presents a certificate of another CA.
    let mut svid = other.svid(CLIENT);
    svid.trust_bundle = vec![mesh.root()];
    let client = Identity::from_svid(svid).client_config(exact(SERVER), &[]);
    let server = identity(&mesh, SERVER).server_config();
    let (client_saw, server_saw) = handshake(client, server).await;
    let err = server_saw.unwrap_err();
    assert!(err.contains("unknown issuer"), "{err}");
    assert!(client_saw.is_err());
}

#[tokio::test]
async fn an_expired_certificate_is_refused_on_both_sides() {
    let ca = TestCa::new("mesh");
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = |id| Identity::from_svid(ca.svid_between(id, now - 2 * day, now - day));

    let client = identity(&ca, CLIENT).client_config(exact(SERVER), &[]);
    let (client_saw, _) = handshake(client, expired(SERVER).server_config()).await;
    let err = client_saw.unwrap_err();
    assert!(err.contains("certificate expired"), "{err}");

    let client = expired(CLIENT).client_config(exact(SERVER), &[]);
    let server = identity(&ca, SERVER).server_config();
    let (_, server_saw) = handshake(client, server).await;
    let err = server_saw.unwrap_err();
    assert!(err.contains("certificate expired"), "{err}");
}

#[tokio::test]
async fn a_client_without_a_certificate_is_refused() {
    let ca = TestCa::new("mesh");
    let provider = Arc::new(provider());
    let verifier = SpiffeServerVerifier::new(identity(&ca, CLIENT), vec![], &provider);
    let client = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let server = identity(&ca, SERVER).server_config();
    let (client_saw, server_saw) = handshake(Arc::new(client), server).await;
    let err = server_saw.unwrap_err();
    assert!(err.contains("peer sent no certificates"), "{err}");
    assert!(client_saw.is_err());
}

#[tokio::test]
async fn tls12_works_too() {
    let ca = TestCa::new("mesh");
    let server = identity(&ca, SERVER).server_config();
    let provider = Arc::new(provider());
    let client_identity = identity(&ca, CLIENT);
    let verifier = SpiffeServerVerifier::new(client_identity.clone(), exact(SERVER), &provider);
    let base = client_identity.client_config(vec![], &[]);
    let mut client = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_cert_resolver(base.client_auth_cert_resolver.clone());
    client.alpn_protocols = vec![b"h2".to_vec()];
    let (client_saw, server_saw) = handshake(Arc::new(client), server).await;
    assert_eq!(client_saw, Ok(Some(SERVER.to_string())));
    assert_eq!(server_saw, Ok(Some(CLIENT.to_string())));
}

#[tokio::test]
async fn the_same_configs_use_the_new_certificate_after_a_rotation() {
    let ca = TestCa::new("mesh");
    let first = Arc::new(ca.svid(CLIENT));
    let (rotate, svids) = watch::channel(first.clone());
    let client_identity = Identity::new(svids, None);
    let client = client_identity.client_config(exact(SERVER), &[]);
    let server = identity(&ca, SERVER).server_config();
    let material = client_identity.material();
    assert!(
        Arc::ptr_eq(&material, &client_identity.material()),
        "built once per SVID"
    );

    // The server records the leaf each client presented.
    let presented = |server: Arc<ServerConfig>, client: Arc<ClientConfig>| async move {
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let name = ServerName::try_from("ignored.example").unwrap();
        let (c, s) = tokio::join!(
            TlsConnector::from(client).connect(name, client_io),
            TlsAcceptor::from(server).accept(server_io)
        );
        c.unwrap();
        s.unwrap().get_ref().1.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(
        presented(server.clone(), client.clone()).await,
        first.cert_chain[0]
    );

    let second = Arc::new(ca.svid(CLIENT));
    rotate.send_replace(second.clone());
    assert_eq!(presented(server, client).await, second.cert_chain[0]);
    assert_ne!(first.cert_chain[0], second.cert_chain[0]);
}
