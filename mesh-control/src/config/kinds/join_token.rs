//! The `mesh.dev/v1alpha1` `JoinToken` kind: a credential the CA accepts.
//!
//! A workload that presents the token (`authorization: Bearer <token>`) to the certificate
//! service gets a certificate for service account `serviceAccount` of the JoinToken's own
//! namespace, `spiffe://<trust-domain>/ns/<namespace>/sa/<serviceAccount>`. Join tokens are
//! for demos and development, where no other credential exists; in a cluster, workloads use
//! their Kubernetes service-account token instead.
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: JoinToken
//! metadata: { name: servicea, namespace: demo }
//! spec: { token: dev-servicea, serviceAccount: servicea }
//! ```
//!
//! The token must not be empty, and no two JoinTokens may hold the same token. Anyone who can
//! read the config can take the identity, so treat these files as secrets.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `spec` of a JoinToken.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct JoinTokenSpec {
    pub(crate) token: Spanned<String>,
    pub(crate) service_account: Spanned<String>,
}
