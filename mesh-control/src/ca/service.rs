//! The certificate service: gRPC `CreateCertificate`, served next to ADS.
//!
//! A call carries a CSR and, in its `authorization` header, a credential. The credential decides
//! the identity (module `auth`); the CA signs the CSR's key for it
//! ([`CertificateAuthority::sign_csr`]). Every certificate signed is logged at info (identity,
//! serial, expiry) and kept in the [`IssuedLog`]; every refusal (the caller's fault: credential,
//! CSR) at warn (peer address and reason, never the token); every failure of the CA itself at
//! error. All are counted in `mesh_control_csrs_total{result}`: `signed`, `refused`, `error`.
//!
//! A requester may name its xDS node id in the [`NODE_ID_HEADER`] header (at most
//! [`MAX_NODE_ID_LEN`] bytes; a longer one is ignored); the admin endpoint then shows that
//! node's identity, marked as claimed, even on a plaintext ADS stream.

use std::sync::Arc;
use std::time::SystemTime;

use mesh_core::identity::proto::istio_certificate_service_server::{
    IstioCertificateService, IstioCertificateServiceServer,
};
use mesh_core::identity::proto::{IstioCertificateRequest, IstioCertificateResponse};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::auth::{Authenticator, Credential};
use super::error::IssueError;
use super::issue::CertificateAuthority;
use super::issued::IssuedLog;
use crate::config::MeshConfig;
use crate::metrics::ControlMetrics;
use mesh_core::telemetry::Metrics;

pub use mesh_core::identity::NODE_ID_HEADER;

/// The longest node id kept from [`NODE_ID_HEADER`], in bytes.
pub const MAX_NODE_ID_LEN: usize = 256;

/// The gRPC certificate service of mesh-control.
#[derive(Clone, Debug)]
pub struct CaService {
    authority: Arc<CertificateAuthority>,
    authenticator: Authenticator,
    issued: IssuedLog,
    metrics: ControlMetrics,
}

impl CaService {
    /// Signs with `authority` for the credentials that the latest config on `config` accepts,
    /// keeps what it signs in `issued` and counts in `metrics`.
    pub fn new(
        authority: Arc<CertificateAuthority>,
        config: watch::Receiver<Arc<MeshConfig>>,
        issued: IssuedLog,
        metrics: &Metrics,
    ) -> Self {
        Self {
            authority,
            authenticator: Authenticator::new(config),
            issued,
            metrics: ControlMetrics::of(metrics),
        }
    }

    /// The service, ready to add to a tonic server.
    pub fn into_service(self) -> IstioCertificateServiceServer<CaService> {
        IstioCertificateServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl IstioCertificateService for CaService {
    async fn create_certificate(
        &self,
        request: Request<IstioCertificateRequest>,
    ) -> Result<Response<IstioCertificateResponse>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "an unknown address".to_string(), |a| a.to_string());
        let node_id = request
            .metadata()
            .get(NODE_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .filter(|id| id.len() <= MAX_NODE_ID_LEN)
            .map(str::to_string);
        let refuse = |status: Status| {
            self.metrics.csrs_refused.inc();
            tracing::warn!(%peer, reason = status.message(), "certificate request refused");
            status
        };
        let identity = Credential::from_metadata(request.metadata())
            .and_then(|credential| self.authenticator.authenticate(&credential))
            .map_err(|e| refuse(Status::unauthenticated(e.to_string())))?;
        let body = request.get_ref();
        let issued = self
            .authority
            .sign_csr(&body.csr, &identity, body.validity_duration)
            .map_err(|e| {
                let status = status_of(&e);
                if status.code() != tonic::Code::Internal {
                    return refuse(status);
                }
                self.metrics.csrs_error.inc();
                tracing::error!(%peer, error = %e, "the CA failed to sign a certificate request");
                status
            })?;
        tracing::info!(
            spiffe_id = %issued.spiffe_id,
            serial = %issued.serial,
            expires = %time::OffsetDateTime::from(issued.not_after),
            valid_for_s = issued
                .not_after
                .duration_since(SystemTime::now())
                .map_or(0, |d| d.as_secs()),
            %peer,
            "certificate signed"
        );
        self.metrics.csrs_signed.inc();
        self.issued.record(&issued, node_id);
        Ok(Response::new(IstioCertificateResponse {
            cert_chain: issued.chain_pem,
        }))
    }
}

/// The gRPC status for an issuing error.
fn status_of(error: &IssueError) -> Status {
    let message = error.to_string();
    match error {
        IssueError::BadCsr(_) | IssueError::NegativeValidity(_) => {
            Status::invalid_argument(message)
        }
        IssueError::ForeignIdentity { .. } => Status::permission_denied(message),
        IssueError::Identity(..) | IssueError::Sign(_) => Status::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::WorkloadIdentity;

    fn service() -> (tempfile::TempDir, CaService) {
        let (dir, ca) = crate::ca::test_authority(Duration::from_secs(3600));
        let mut config = MeshConfig::default();
        let identity = |service_account: &str| WorkloadIdentity {
            namespace: "demo".into(),
            service_account: service_account.into(),
        };
        config.join_tokens.insert("dev-a".into(), identity("a"));
        // Not a valid SPIFFE path segment: signing fails inside the CA.
        config.join_tokens.insert("dev-bad".into(), identity("a b"));
        let config = watch::Sender::new(Arc::new(config));
        let service = CaService::new(ca, config.subscribe(), IssuedLog::new(), &Metrics::new());
        (dir, service)
    }

    fn count(service: &CaService) -> [u64; 3] {
        let m = &service.metrics;
        [
            m.csrs_signed.get(),
            m.csrs_refused.get(),
            m.csrs_error.get(),
        ]
    }

    fn csr(uri: Option<&str>) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        if let Some(uri) = uri {
            params
                .subject_alt_names
                .push(rcgen::SanType::URI(uri.try_into().unwrap()));
        }
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    async fn call(
        service: &CaService,
        authorization: Option<&str>,
        csr: String,
    ) -> Result<Vec<String>, Status> {
        call_as(service, authorization, csr, None).await
    }

    async fn call_as(
        service: &CaService,
        authorization: Option<&str>,
        csr: String,
        node_id: Option<&str>,
    ) -> Result<Vec<String>, Status> {
        let mut request = Request::new(IstioCertificateRequest {
            csr,
            validity_duration: 0,
        });
        if let Some(value) = authorization {
            let value = value.parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        if let Some(value) = node_id {
            let value = value.parse().unwrap();
            request.metadata_mut().insert(NODE_ID_HEADER, value);
        }
        let response = service.create_certificate(request).await?;
        Ok(response.into_inner().cert_chain)
    }

    #[tokio::test]
    async fn signs_for_the_credential_and_refuses_with_the_right_codes() {
        let (_dir, service) = service();
        let chain = call(&service, Some("Bearer dev-a"), csr(None))
            .await
            .unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(service.issued.newest_first().len(), 1);

        let status = call(&service, None, csr(None)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(status.message().starts_with("no credential"), "{status:?}");

        let other = "spiffe://cluster.local/ns/demo/sa/b";
        let status = call(&service, Some("Bearer dev-a"), csr(Some(other)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);

        let status = call(&service, Some("Bearer dev-a"), "junk".into())
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(count(&service), [1, 3, 0]);
    }

    #[tokio::test]
    async fn a_failure_of_the_ca_counts_as_an_error_not_a_refusal() {
        let (_dir, service) = service();
        let status = call(&service, Some("Bearer dev-bad"), csr(None))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Internal, "{status:?}");
        assert_eq!(count(&service), [0, 0, 1]);
    }

    #[tokio::test]
    async fn a_node_id_is_kept_up_to_its_cap() {
        let (_dir, service) = service();
        let longest = "n".repeat(MAX_NODE_ID_LEN);
        let too_long = "n".repeat(MAX_NODE_ID_LEN + 1);
        for node_id in [longest.as_str(), too_long.as_str()] {
            call_as(&service, Some("Bearer dev-a"), csr(None), Some(node_id))
                .await
                .unwrap();
        }
        let node_ids: Vec<_> = service
            .issued
            .newest_first()
            .into_iter()
            .map(|r| r.node_id)
            .collect();
        assert_eq!(node_ids, [None, Some(longest)]);
    }
}
