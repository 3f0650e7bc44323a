//! Asking the mesh CA for a certificate.
//!
//! [`CertificateAuthority`] is the one thing the rotation worker needs from a CA: sign a CSR,
//! answer with the chain. [`GrpcCa`] is the real one, mesh-control's `CreateCertificate` on the
//! same plaintext port as ADS, with the credential in `authorization: Bearer <token>`; tests
//! use fakes. [`issue`] makes a fresh key, gets it certified and checks the answer.

use std::future::Future;
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::proto::IstioCertificateRequest;
use super::proto::istio_certificate_service_client::IstioCertificateServiceClient;
use super::{IdentityError, Svid, csr, svid};

/// How long to wait for the TCP connection to the CA.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one `CreateCertificate` call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A CA that signs CSRs.
pub(crate) trait CertificateAuthority: Send + Sync + 'static {
    /// Where the CA is, for error messages.
    fn uri(&self) -> &str;

    /// Signs `csr_pem`; the answer is the chain, leaf first and root last.
    fn sign(
        &self,
        csr_pem: String,
    ) -> impl Future<Output = Result<Vec<CertificateDer<'static>>, IdentityError>> + Send;
}

/// mesh-control's certificate service over gRPC.
pub(crate) struct GrpcCa {
    uri: String,
    client: IstioCertificateServiceClient<Channel>,
    authorization: Option<AsciiMetadataValue>,
    node_id: Option<AsciiMetadataValue>,
}

/// The request header in which a certificate request names its xDS node id, so that
/// mesh-control can tell which identity each connected workload holds.
pub const NODE_ID_HEADER: &str = "mesh-node-id";

impl GrpcCa {
    /// A client for the CA at `uri` (`http://host:port`); connects on first use. `node_id`,
    /// the xDS node id, is sent along when it can travel in a header.
    pub(crate) fn new(
        uri: String,
        token: Option<String>,
        node_id: Option<String>,
    ) -> Result<GrpcCa, IdentityError> {
        let invalid_uri = |reason: String| IdentityError::InvalidCaUri {
            uri: uri.clone(),
            reason,
        };
        let endpoint = Endpoint::from_shared(uri.clone())
            .map_err(|e| invalid_uri(e.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT);
        if endpoint.uri().port().is_none() {
            return Err(invalid_uri("it has no port".into()));
        }
        let authorization = token
            .map(|token| MetadataValue::try_from(format!("Bearer {token}")))
            .transpose()
            .map_err(|_| IdentityError::InvalidSetting {
                setting: "token",
                reason: "it holds characters that cannot travel in a gRPC header; \
                         use the token exactly as mesh-control printed it"
                    .into(),
            })?;
        Ok(GrpcCa {
            client: IstioCertificateServiceClient::new(endpoint.connect_lazy()),
            uri,
            authorization,
            node_id: node_id.and_then(|id| MetadataValue::try_from(id).ok()),
        })
    }
}

impl CertificateAuthority for GrpcCa {
    fn uri(&self) -> &str {
        &self.uri
    }

    async fn sign(&self, csr_pem: String) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
        let mut request = tonic::Request::new(IstioCertificateRequest {
            csr: csr_pem,
            validity_duration: 0,
        });
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if let Some(value) = &self.node_id {
            request.metadata_mut().insert(NODE_ID_HEADER, value.clone());
        }
        let response = self
            .client
            .clone()
            .create_certificate(request)
            .await
            .map_err(|status| status_error(&self.uri, &status))?;
        let pem = response.into_inner().cert_chain.join("\n");
        svid::parse_certs(&pem).map_err(|reason| IdentityError::BadIssuedCertificate {
            uri: self.uri.clone(),
            reason: format!("the certificate chain is not valid PEM: {reason}"),
        })
    }
}

/// Refusals fail at once; everything else is worth retrying.
fn status_error(uri: &str, status: &tonic::Status) -> IdentityError {
    use tonic::Code;
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied | Code::InvalidArgument => {
            IdentityError::Refused {
                uri: uri.to_string(),
                code: format!("{:?}", status.code()),
                message: status.message().to_string(),
            }
        }
        code => {
            let mut reason = format!("{code:?}: {}", status.message());
            let mut source = std::error::Error::source(status);
            while let Some(cause) = source {
                reason.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            IdentityError::CaUnreachable {
                uri: uri.to_string(),
                reason,
            }
        }
    }
}

/// Makes a fresh key, has the CA certify it and checks the answer: the chain's last
/// certificate is the root and becomes the trust bundle; the rest is presented to peers.
pub(crate) async fn issue(ca: &impl CertificateAuthority) -> Result<Svid, IdentityError> {
    let request = csr::generate()?;
    let mut chain = ca.sign(request.csr_pem).await?;
    let bad = |reason: String| IdentityError::BadIssuedCertificate {
        uri: ca.uri().to_string(),
        reason,
    };
    if chain.len() < 2 {
        return Err(bad(format!(
            "the chain holds {} certificate(s); expected the leaf first and the CA's root last",
            chain.len()
        )));
    }
    let root = chain.split_off(chain.len() - 1);
    let svid = Svid::new(chain, request.key, root).map_err(|e| bad(e.to_string()))?;
    if svid.not_after <= SystemTime::now() {
        return Err(bad(format!(
            "the certificate of {} expired at {}; check the clocks of this host and of \
             mesh-control",
            svid.spiffe_id,
            time::OffsetDateTime::from(svid.not_after)
        )));
    }
    Ok(svid)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use tokio_stream::wrappers::TcpListenerStream;
    use tonic::{Request, Response, Status};

    use super::super::Identity;
    use super::super::proto::IstioCertificateResponse;
    use super::super::proto::istio_certificate_service_server::{
        IstioCertificateService, IstioCertificateServiceServer,
    };
    use super::super::test_ca::TestCa;
    use super::*;

    const ID: &str = "spiffe://cluster.local/ns/demo/sa/servicea";

    /// Signs for `Bearer good` only, as mesh-control does for a known join token.
    struct TokenCa(TestCa);

    #[tonic::async_trait]
    impl IstioCertificateService for TokenCa {
        async fn create_certificate(
            &self,
            request: Request<IstioCertificateRequest>,
        ) -> Result<Response<IstioCertificateResponse>, Status> {
            let token = request.metadata().get("authorization");
            if token.and_then(|v| v.to_str().ok()) != Some("Bearer good") {
                return Err(Status::unauthenticated("unknown join token"));
            }
            let now = SystemTime::now();
            let cert_chain = self.0.sign_csr_pem(
                &request.get_ref().csr,
                ID,
                now,
                now + Duration::from_secs(3600),
            );
            Ok(Response::new(IstioCertificateResponse { cert_chain }))
        }
    }

    async fn serve(ca: TokenCa) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(IstioCertificateServiceServer::new(ca))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        uri
    }

    #[tokio::test]
    async fn gets_a_certificate_with_the_token_and_is_refused_without_it() {
        let uri = serve(TokenCa(TestCa::new("mesh"))).await;
        let identity = Identity::builder()
            .ca_uri(&uri)
            .token("good")
            .start()
            .await
            .unwrap();
        assert_eq!(identity.spiffe_id().to_string(), ID);
        assert_eq!(identity.current().trust_bundle.len(), 1);
        assert_eq!(identity.current().cert_chain.len(), 1);

        let err = Identity::builder()
            .ca_uri(&uri)
            .token("bad")
            .start()
            .await
            .unwrap_err();
        assert!(err.is_refusal(), "{err:?}");
        assert!(err.to_string().contains("unknown join token"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_ca_is_worth_retrying() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let ca = GrpcCa::new(uri.clone(), None, None).unwrap();
        let err = issue(&ca).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::CaUnreachable { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&uri), "{err}");
    }

    #[test]
    fn a_bad_address_says_what_is_expected() {
        let err = GrpcCa::new("http://localhost".into(), None, None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("no port"), "{err}");
    }

    /// Answers with the leaf only, forgetting the root.
    struct LeafOnly(TestCa);

    impl CertificateAuthority for LeafOnly {
        fn uri(&self) -> &str {
            "fake://ca"
        }

        async fn sign(&self, csr: String) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
            let now = SystemTime::now();
            let mut chain = self
                .0
                .sign_csr(&csr, ID, now, now + Duration::from_secs(60));
            chain.truncate(1);
            Ok(chain)
        }
    }

    #[tokio::test]
    async fn a_chain_without_its_root_is_refused() {
        let err = issue(&LeafOnly(TestCa::new("mesh"))).await.unwrap_err();
        assert!(
            matches!(err, IdentityError::BadIssuedCertificate { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("the CA's root last"), "{err}");
    }
}
