//! What can go wrong with the CA: loading or creating its root, and signing a request.

use std::path::PathBuf;

/// The CA root could not be loaded, created or stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// The state directory holds no CA yet.
    #[error(
        "no CA in {}: start mesh-control serve first or pass --state-dir",
        dir.display()
    )]
    Missing {
        /// The state directory that was searched.
        dir: PathBuf,
    },
    /// Only one of the certificate and the key is there.
    #[error(
        "{} exists but {} does not; restore the missing file, or remove both to start a new CA \
         (every workload certificate then has to be issued again)",
        found.display(),
        missing.display()
    )]
    Incomplete {
        /// The file that exists.
        found: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// A file or directory could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `write the CA key`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The CA certificate cannot serve as a root.
    #[error("the CA certificate {} is unusable: {reason}", path.display())]
    BadCertificate {
        /// The certificate file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The CA key cannot be read or does not belong to the certificate.
    #[error("the CA key {} is unusable: {reason}", path.display())]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// What is wrong and what to do.
        reason: String,
    },
    /// A new root could not be made.
    #[error("cannot create the CA root: {0}")]
    Generate(rcgen::Error),
}

/// A certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The CSR does not parse or its signature does not verify.
    #[error("the CSR is invalid ({0}); send a PEM PKCS#10 request signed by the key to certify")]
    BadCsr(rcgen::Error),
    /// The CSR asks for another identity than the credential proves.
    #[error(
        "the CSR asks for {asked} but the credential proves {proven}; \
         leave the SAN out of the CSR or ask for the identity of the credential"
    )]
    ForeignIdentity {
        /// The URI SAN the CSR asks for.
        asked: String,
        /// The SPIFFE ID the credential proves.
        proven: String,
    },
    /// The requested lifetime is negative.
    #[error("validity_duration is {0}; ask for a positive number of seconds, or 0 for the default")]
    NegativeValidity(i64),
    /// The identity does not make a SPIFFE ID.
    #[error("{0} is not a valid SPIFFE ID: {1}")]
    Identity(String, spiffe::SpiffeIdError),
    /// Signing failed.
    #[error("cannot sign the certificate: {0}")]
    Sign(rcgen::Error),
}

/// The TLS port could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the TLS port: {0}")]
pub struct TlsSetupError(String);

impl TlsSetupError {
    /// An error saying what failed.
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}
