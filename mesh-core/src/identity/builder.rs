//! [`IdentityBuilder`]: where the CA is, which credential to show, how to rotate.

use std::time::Duration;

use tokio::sync::watch;

use super::ca::{CertificateAuthority, GrpcCa};
use super::error::JOIN_TOKEN_ENV;
use super::metrics::IdentityMetrics;
use super::{Identity, IdentityError, worker};
use crate::bootstrap::Bootstrap;
use crate::telemetry::Metrics;

/// The default of [`IdentityBuilder::rotate_at`].
const DEFAULT_ROTATE_AT: f64 = 0.7;
/// The default of [`IdentityBuilder::first_cert_timeout`].
const DEFAULT_FIRST_CERT_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of an [`Identity`] issued by mesh-control's CA; made by [`Identity::builder`].
#[derive(Clone, Debug)]
pub struct IdentityBuilder {
    ca_uri: Option<String>,
    token: Option<String>,
    node_id: Option<String>,
    rotate_at: f64,
    first_cert_timeout: Duration,
    metrics: Option<Metrics>,
}

impl Default for IdentityBuilder {
    fn default() -> Self {
        IdentityBuilder {
            ca_uri: None,
            token: None,
            node_id: None,
            rotate_at: DEFAULT_ROTATE_AT,
            first_cert_timeout: DEFAULT_FIRST_CERT_TIMEOUT,
            metrics: None,
        }
    }
}

impl IdentityBuilder {
    /// Uses the CA of the bootstrap's first xDS server (mesh-control serves it on the same
    /// plaintext port as ADS), and tells it the bootstrap's node id, so that mesh-control's
    /// status pages can name the identity of each connected workload.
    pub fn bootstrap(mut self, bootstrap: &Bootstrap) -> Self {
        if let Some(server) = bootstrap.xds_servers.first() {
            self.ca_uri = Some(format!("http://{}", server.server_uri));
        }
        self.node_id = Some(bootstrap.node.id.clone()).filter(|id| !id.is_empty());
        self
    }

    /// Uses the CA at `uri`, such as `http://127.0.0.1:15010`.
    pub fn ca_uri(mut self, uri: impl Into<String>) -> Self {
        self.ca_uri = Some(uri.into());
        self
    }

    /// The credential shown to the CA (a join token, or a Kubernetes service-account token).
    /// Default: none.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Reads the credential from `MESH_JOIN_TOKEN`, if it is set and not empty.
    pub fn token_from_env(mut self) -> Self {
        if let Ok(token) = std::env::var(JOIN_TOKEN_ENV)
            && !token.is_empty()
        {
            self.token = Some(token);
        }
        self
    }

    /// When to renew, as a fraction of the certificate's lifetime, strictly between 0 and 1.
    /// Default 0.7.
    pub fn rotate_at(mut self, fraction: f64) -> Self {
        self.rotate_at = fraction;
        self
    }

    /// How long [`IdentityBuilder::start`] waits for the first certificate. Default 30 s.
    pub fn first_cert_timeout(mut self, timeout: Duration) -> Self {
        self.first_cert_timeout = timeout;
        self
    }

    /// The registry of the `mesh_identity_*` metrics. Default: [`Metrics::global`].
    pub fn metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Gets the first certificate from the CA, then starts the rotation worker on the current
    /// tokio runtime. Fails at once if the CA refuses the credential, or after
    /// `first_cert_timeout` if it cannot be reached.
    pub async fn start(self) -> Result<Identity, IdentityError> {
        let uri = self.ca_uri.clone().ok_or(IdentityError::NoCa)?;
        let ca = GrpcCa::new(uri, self.token.clone(), self.node_id.clone())?;
        self.start_with(ca).await
    }

    /// [`IdentityBuilder::start`] with any CA.
    pub(crate) async fn start_with(
        self,
        ca: impl CertificateAuthority,
    ) -> Result<Identity, IdentityError> {
        if !(self.rotate_at > 0.0 && self.rotate_at < 1.0) {
            return Err(IdentityError::InvalidSetting {
                setting: "rotate_at",
                reason: format!(
                    "{} is not strictly between 0 and 1 (a fraction of the certificate's \
                     lifetime, such as 0.7)",
                    self.rotate_at
                ),
            });
        }
        let svid = worker::first_svid(&ca, self.first_cert_timeout).await?;
        tracing::info!(spiffe_id = %svid.spiffe_id, not_after = ?svid.not_after,
            "got the workload certificate");
        let mut metrics = IdentityMetrics::new(self.metrics.as_ref().unwrap_or(Metrics::global()));
        metrics.certificate(&svid);
        let (sender, svids) = watch::channel(std::sync::Arc::new(svid));
        let worker = tokio::spawn(worker::rotate(ca, self.rotate_at, sender, metrics));
        Ok(Identity::new(svids, Some(worker.abort_handle())))
    }
}
