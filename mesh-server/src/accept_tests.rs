use std::sync::Arc;

use tokio::net::TcpListener;

use super::*;

#[path = "../../mesh-client/tests/support/certs.rs"]
mod certs;

/// A connected pair of loopback sockets: (client, server).
async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

fn acceptor() -> Acceptor {
    Acceptor::new(
        certs::TestCa::new("mesh")
            .identity("serviceb")
            .server_config(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let (_client, server) = pair().await;
    let started = tokio::time::Instant::now();
    let refused = acceptor().accept(server, InboundTls::Permissive).await;
    assert!(matches!(refused, Err(Refused::Timeout)));
    assert_eq!(started.elapsed(), HANDSHAKE_TIMEOUT);
}

#[tokio::test]
async fn a_client_that_leaves_without_a_word_is_refused() {
    let (client, server) = pair().await;
    drop(client);
    let refused = acceptor().accept(server, InboundTls::Strict).await;
    assert!(matches!(refused, Err(Refused::Ended(_))), "{refused:?}");
}

#[tokio::test]
async fn plaintext_mode_looks_at_nothing() {
    let (_client, server) = pair().await;
    // The client said nothing, yet the connection is handed over at once.
    let accepted = acceptor().accept(server, InboundTls::Plaintext).await;
    assert!(matches!(accepted, Ok(Accepted::Plaintext(_))));
}

#[test]
fn the_verifier_reason_is_shown_in_words() {
    #[derive(Debug, thiserror::Error)]
    #[error("unknown issuer (not signed by the mesh's trust bundle)")]
    struct Reason;
    let other = rustls::OtherError(Arc::new(Reason));
    let error = rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other));
    let io = io::Error::new(io::ErrorKind::InvalidData, error);
    assert_eq!(
        Refused::Handshake(io).to_string(),
        "mTLS handshake failed: invalid peer certificate: unknown issuer (not signed by the \
         mesh's trust bundle)"
    );
    let plain = io::Error::new(
        io::ErrorKind::InvalidData,
        rustls::Error::HandshakeNotComplete,
    );
    assert!(
        Refused::Handshake(plain)
            .to_string()
            .starts_with("mTLS handshake failed: ")
    );
}
