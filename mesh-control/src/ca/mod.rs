//! mesh-control's certificate authority: workload identities as SPIFFE X.509 SVIDs.
//!
//! A meshed app makes a key in memory and sends a certificate signing request (CSR) with a
//! credential to the certificate service, on the same ports as xDS. mesh-control decides the
//! identity from the credential (`auth`), never from what the CSR asks for, and signs a
//! short-lived certificate (24 h by default) for `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`
//! ([`CertificateAuthority`]). The app rotates it before it expires.
//!
//! | module | concern |
//! |---|---|
//! | [`root`] | the root: made on first start and kept in the state directory, or the operator's |
//! | [`issue`] | what a workload certificate holds, and signing it |
//! | `auth` | credentials: join tokens from the config; the seam for Kubernetes tokens |
//! | [`service`] | the gRPC `IstioCertificateService` |
//! | [`issued`] | the certificates issued lately, for the admin endpoint |
//! | [`tls`] | xDS and the CA over TLS, with a server certificate from this CA |
//!
//! The CA key never leaves mesh-control: it is not sent, not logged, and only the root
//! certificate (the trust bundle) is handed out.

mod auth;
mod error;
pub mod issue;
pub mod issued;
pub mod root;
pub mod service;
pub mod tls;

pub use error::{CaError, IssueError, TlsSetupError};
pub use issue::{CertificateAuthority, IssuedCert};
pub use issued::{IssuedLog, IssuedRecord};
pub use root::RootCa;
pub use service::CaService;

/// Makes a CA in a temporary directory, for tests.
#[cfg(test)]
pub(crate) fn test_authority(
    svid_ttl: std::time::Duration,
) -> (tempfile::TempDir, std::sync::Arc<CertificateAuthority>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (root, _) = RootCa::load_or_generate(dir.path()).expect("root");
    let trust_domain = spiffe::TrustDomain::new("cluster.local").expect("trust domain");
    let authority = CertificateAuthority::new(root, trust_domain, svid_ttl);
    (dir, std::sync::Arc::new(authority))
}
