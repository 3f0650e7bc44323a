//! The `mesh.dev/v1alpha1` `TLSPolicy` kind: the mTLS mode of the Services it selects.
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: TLSPolicy
//! metadata: { name: strict, namespace: demo }
//! spec:
//!   targetRef: { kind: Service, name: serviceb-v1 }  # optional: without it, every Service
//!                                                    # of the namespace
//!   mode: STRICT                 # STRICT | PERMISSIVE | DISABLE
//!   serviceAccounts: [serviceb]  # optional: the server identities clients accept
//! ```
//!
//! - `STRICT`: the Service's servers accept mTLS only, and its clients speak mTLS.
//! - `PERMISSIVE`: servers accept mTLS and plaintext on the same port; clients speak mTLS.
//!   Services no policy selects are permissive.
//! - `DISABLE`: plaintext both ways, for endpoints outside the mesh.
//!
//! `serviceAccounts` names the service accounts (of the Service's namespace) its servers run
//! as: a client accepts a server only if it proves one of them. Left out, any identity of the
//! namespace is accepted.
//!
//! A policy with a `targetRef` beats a namespace-wide one. Two policies of the same scope for
//! one Service (two namespace-wide ones, or two naming the same Service) are an error.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::target_ref::TargetRef;

/// `spec` of a TLSPolicy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TlsPolicySpec {
    pub(crate) target_ref: Option<Spanned<TargetRef>>,
    pub(crate) mode: Spanned<String>,
    #[serde(default)]
    pub(crate) service_accounts: Vec<Spanned<String>>,
}
