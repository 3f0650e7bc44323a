//! The `mesh.dev/v1alpha1` `AuthorizationPolicy` kind: which callers may make which calls to
//! the servers of the Services it targets.
//!
//! ```yaml
//! apiVersion: mesh.dev/v1alpha1
//! kind: AuthorizationPolicy
//! metadata: { name: serviceb-callers, namespace: demo }
//! spec:
//!   targetRefs: [{ kind: Service, name: serviceb-v1 }, { kind: Service, name: serviceb-v2 }]
//!   defaultAction: DENY            # ALLOW | DENY; default: DENY if a rule is ALLOW, else ALLOW
//!   rules:
//!   - name: servicea-reads         # optional; default rule-<index>
//!     action: ALLOW                # ALLOW | DENY
//!     from:                        # any of these callers; left out: every caller
//!     - serviceAccount: servicea   # of the policy's namespace, or "<namespace>/<account>"
//!     - namespace: demo            # any service account of a namespace
//!     - spiffeId: { exact: spiffe://cluster.local/ns/demo/sa/servicea }  # or prefix / suffix
//!     - authenticated: true        # any caller that proved an identity (mTLS)
//!     to:                          # any of these requests; left out: every request
//!     - grpc: { service: demo.ServiceB, method: Get }   # method left out: every method
//!     - path: { prefix: /hello }   # or exact / suffix
//!       methods: [GET]             # optional: any of these HTTP methods
//!       headers: [{ name: x-tenant, value: blue }]      # all of these (type: Exact or
//!                                                       # RegularExpression, as in routes)
//! ```
//!
//! A call matching a DENY rule is refused (gRPC `PERMISSION_DENIED`, HTTP 403); otherwise a
//! call matching an ALLOW rule is accepted; otherwise `defaultAction` decides. A caller is known
//! by the SPIFFE ID it proved over mTLS, so a plaintext caller matches only rules without
//! `from`. Service accounts and namespaces become SPIFFE IDs of mesh-control's trust domain.
//! A `path` prefix is a plain string prefix (`/hello` also takes `/helloworld`), as in RBAC.
//!
//! Each entry of `from` names one caller (one of its four fields), and each entry of `to` names
//! a request by `grpc` or `path` (not both), with optional `methods` and `headers` that must all
//! hold. A Service takes one AuthorizationPolicy at most.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::route::HeaderMatch;
use super::target_ref::TargetRef;

/// `spec` of an AuthorizationPolicy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AuthorizationPolicySpec {
    #[serde(default)]
    pub(crate) target_refs: Vec<Spanned<TargetRef>>,
    pub(crate) default_action: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) rules: Vec<Spanned<Rule>>,
}

/// One entry of `spec.rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rule {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) action: Spanned<String>,
    /// `None` when left out (every caller); an empty list is refused.
    pub(crate) from: Option<Spanned<Vec<Spanned<Source>>>>,
    /// `None` when left out (every request); an empty list is refused.
    pub(crate) to: Option<Spanned<Vec<Spanned<Operation>>>>,
}

/// One entry of `rules[].from`: exactly one of its fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Source {
    pub(crate) service_account: Option<Spanned<String>>,
    pub(crate) namespace: Option<Spanned<String>>,
    pub(crate) spiffe_id: Option<Spanned<ValueMatch>>,
    pub(crate) authenticated: Option<Spanned<bool>>,
}

/// A string condition: exactly one of its fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValueMatch {
    pub(crate) exact: Option<Spanned<String>>,
    pub(crate) prefix: Option<Spanned<String>>,
    pub(crate) suffix: Option<Spanned<String>>,
}

/// One entry of `rules[].to`: all of its conditions must hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Operation {
    pub(crate) grpc: Option<Spanned<GrpcMethod>>,
    pub(crate) path: Option<Spanned<ValueMatch>>,
    #[serde(default)]
    pub(crate) methods: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) headers: Vec<Spanned<HeaderMatch>>,
}

/// `to[].grpc`: a gRPC service and, optionally, one of its methods.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrpcMethod {
    pub(crate) service: Spanned<String>,
    pub(crate) method: Option<Spanned<String>>,
}
