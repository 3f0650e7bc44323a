//! Verifying peers by SPIFFE ID instead of DNS name.
//!
//! Both sides check that the peer's chain leads to the current trust bundle and that its leaf
//! carries a SPIFFE ID. The client also checks that ID against the matchers xDS gave for the
//! cluster; the server accepts any ID of the mesh and leaves the rest to authorization.
//! Failures say what is wrong: an unexpected ID (with the expected list), an expired
//! certificate, an issuer outside the trust bundle, a certificate without a SPIFFE ID.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};

use super::Identity;
use crate::model::StringMatch;

/// Why a peer certificate is refused, beyond what rustls names itself.
#[derive(thiserror::Error)]
enum Refusal {
    #[error("server identity {id} is not one of the expected [{expected}]")]
    UnexpectedServer {
        id: spiffe::SpiffeId,
        expected: String,
    },
    #[error("unknown issuer (not signed by the mesh's trust bundle)")]
    UnknownIssuer,
    #[error("the certificate carries no usable SPIFFE ID: {0}")]
    NoSpiffeId(spiffe::cert::error::CertificateError),
    #[error("this workload has no usable trust bundle to verify peers with")]
    NoTrustBundle,
}

/// rustls shows a [`CertificateError::Other`] with `Debug`: make that the message.
impl fmt::Debug for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<Refusal> for Error {
    fn from(refusal: Refusal) -> Error {
        Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            refusal,
        ))))
    }
}

/// Renames rustls' unknown-issuer error; keeps the others (expired, not yet valid, ...).
fn explain(error: Error) -> Error {
    match error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => Refusal::UnknownIssuer.into(),
        other => other,
    }
}

fn spiffe_id_of(end_entity: &CertificateDer<'_>) -> Result<spiffe::SpiffeId, Error> {
    spiffe::cert::spiffe_id_from_der(end_entity).map_err(|e| Refusal::NoSpiffeId(e).into())
}

/// How a matcher reads in an error message, e.g. `exact spiffe://cluster.local/ns/a/sa/b`.
fn describe(matchers: &[StringMatch]) -> String {
    let mut out = String::new();
    for (i, m) in matchers.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match m {
            StringMatch::Exact(s) => write!(out, "exact {s}"),
            StringMatch::Prefix(s) => write!(out, "prefix {s}"),
            StringMatch::Suffix(s) => write!(out, "suffix {s}"),
            StringMatch::Contains(s) => write!(out, "contains {s}"),
            StringMatch::Regex(p) => write!(out, "regex {}", p.as_str()),
            StringMatch::Present => write!(out, "any"),
        };
    }
    out
}

/// The client side: verifies the server's chain and SPIFFE ID.
#[derive(Debug)]
pub(crate) struct SpiffeServerVerifier {
    identity: Identity,
    peer_ids: Vec<StringMatch>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeServerVerifier {
    pub(crate) fn new(
        identity: Identity,
        peer_ids: Vec<StringMatch>,
        provider: &CryptoProvider,
    ) -> SpiffeServerVerifier {
        SpiffeServerVerifier {
            identity,
            peer_ids,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let material = self.identity.material();
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &material.roots,
            intermediates,
            now,
            self.algorithms.all,
        )
        .map_err(explain)?;
        let id = spiffe_id_of(end_entity)?;
        let id_string = id.to_string();
        if !self.peer_ids.is_empty() && !self.peer_ids.iter().any(|m| m.matches(&id_string)) {
            return Err(Refusal::UnexpectedServer {
                id,
                expected: describe(&self.peer_ids),
            }
            .into());
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server side: requires a client certificate chaining to the trust bundle, with a
/// SPIFFE ID.
#[derive(Debug)]
pub(crate) struct SpiffeClientVerifier {
    identity: Identity,
    algorithms: WebPkiSupportedAlgorithms,
}

impl SpiffeClientVerifier {
    pub(crate) fn new(identity: Identity, provider: &CryptoProvider) -> SpiffeClientVerifier {
        SpiffeClientVerifier {
            identity,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for SpiffeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let material = self.identity.material();
        let verifier = material
            .client_verifier
            .as_ref()
            .ok_or(Refusal::NoTrustBundle)?;
        verifier
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(explain)?;
        spiffe_id_of(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
