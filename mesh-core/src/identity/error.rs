//! What can go wrong while getting or loading a workload identity.

use std::time::Duration;

/// The environment variable [`IdentityBuilder::token_from_env`](super::IdentityBuilder::token_from_env)
/// reads the join token from.
pub const JOIN_TOKEN_ENV: &str = "MESH_JOIN_TOKEN";

/// A workload identity that could not be obtained or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The builder was given neither a bootstrap nor a CA address.
    #[error(
        "no CA to ask for a certificate: call IdentityBuilder::bootstrap (the CA is the first \
         xds_server) or IdentityBuilder::ca_uri"
    )]
    NoCa,
    /// The CA address cannot be used.
    #[error("invalid CA address {uri:?}: {reason}; expected e.g. http://127.0.0.1:15010")]
    InvalidCaUri {
        /// The address as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A builder setting is out of range.
    #[error("invalid identity setting {setting}: {reason}")]
    InvalidSetting {
        /// The setter, such as `rotate_at`.
        setting: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The CA could not be reached or failed; the request may be retried.
    #[error(
        "cannot get a certificate from the mesh CA at {uri}: {reason}; is mesh-control running there?"
    )]
    CaUnreachable {
        /// The CA's address.
        uri: String,
        /// What the transport or the CA said.
        reason: String,
    },
    /// The CA refused the request (bad or missing credential, bad CSR); retrying will not help.
    #[error(
        "the mesh CA at {uri} refused the certificate request ({code}): {message}; check the \
         join token ({JOIN_TOKEN_ENV} or IdentityBuilder::token)"
    )]
    Refused {
        /// The CA's address.
        uri: String,
        /// The gRPC status code, such as `Unauthenticated`.
        code: String,
        /// The CA's message.
        message: String,
    },
    /// The CA answered with certificates that cannot be used.
    #[error("the mesh CA at {uri} returned an unusable certificate: {reason}")]
    BadIssuedCertificate {
        /// The CA's address.
        uri: String,
        /// What is wrong with the answer.
        reason: String,
    },
    /// No certificate arrived within `IdentityBuilder::first_cert_timeout`.
    #[error("no certificate from the mesh CA at {uri} after {waited:?}; last error: {last}")]
    Timeout {
        /// The CA's address.
        uri: String,
        /// How long the builder waited.
        waited: Duration,
        /// The last failure.
        last: Box<IdentityError>,
    },
    /// Fixed credentials that cannot be used (bad PEM, no SPIFFE ID, key not matching, ...).
    #[error("invalid {what}: {reason}")]
    InvalidCredentials {
        /// Which input: `certificate chain PEM`, `private key PEM`, `trust bundle PEM`, ...
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key or CSR could not be generated.
    #[error("cannot generate a key and CSR: {reason}")]
    Key {
        /// What the crypto library said.
        reason: String,
    },
}

impl IdentityError {
    /// Whether the CA refused the request, so that retrying with the same credential is useless.
    pub fn is_refusal(&self) -> bool {
        matches!(self, IdentityError::Refused { .. })
    }
}

/// What went wrong in a TLS handshake, in words. rustls shows the mesh verifiers' reasons
/// (wrong SPIFFE ID, unknown issuer) in their debug form, so those are unwrapped; anything else
/// is the error's own message.
pub fn describe_handshake_error(error: &std::io::Error) -> String {
    let rustls_error = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(reason))) => {
            format!("invalid peer certificate: {reason}")
        }
        _ => error.to_string(),
    }
}
