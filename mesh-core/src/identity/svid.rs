//! The X.509 SVID: a workload's certificate chain, key and trust bundle, checked on the way in.
//!
//! Whatever the source (the mesh CA or PEM files), credentials become an [`Svid`] only after
//! the same checks: the leaf carries exactly one SPIFFE ID in its URI SAN, its validity period
//! parses, the private key belongs to the leaf, and the trust bundle is not empty.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use super::IdentityError;
use super::tls::provider;

/// The current credentials of a workload.
pub struct Svid {
    /// The workload's SPIFFE ID, read from the leaf certificate's URI SAN.
    pub spiffe_id: spiffe::SpiffeId,
    /// The certificate chain presented to peers, leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (clone it with `clone_key`).
    pub key: PrivateKeyDer<'static>,
    /// The roots peers' chains must lead to.
    pub trust_bundle: Vec<CertificateDer<'static>>,
    /// When the leaf becomes valid.
    pub not_before: SystemTime,
    /// When the leaf expires.
    pub not_after: SystemTime,
}

impl Svid {
    /// Checks and assembles credentials: the SPIFFE ID and validity come from the leaf
    /// (`cert_chain[0]`), which must match `key`.
    pub fn new(
        cert_chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        trust_bundle: Vec<CertificateDer<'static>>,
    ) -> Result<Svid, IdentityError> {
        let invalid = |what, reason: String| IdentityError::InvalidCredentials { what, reason };
        let leaf = cert_chain
            .first()
            .ok_or_else(|| invalid("certificate chain", "it is empty".into()))?;
        let spiffe_id = spiffe::cert::spiffe_id_from_der(leaf).map_err(|e| {
            invalid(
                "certificate chain",
                format!("the leaf certificate is not an X.509 SVID: {e}"),
            )
        })?;
        let (not_before, not_after) = validity(leaf)
            .map_err(|reason| invalid("certificate chain", format!("the leaf {reason}")))?;
        if trust_bundle.is_empty() {
            return Err(invalid("trust bundle", "it holds no certificate".into()));
        }
        CertifiedKey::from_der(cert_chain.clone(), key.clone_key(), &provider()).map_err(|e| {
            invalid(
                "private key",
                format!("it cannot be used with the leaf certificate of {spiffe_id}: {e}"),
            )
        })?;
        Ok(Svid {
            spiffe_id,
            cert_chain,
            key,
            trust_bundle,
            not_before,
            not_after,
        })
    }

    /// Reads credentials from PEM text: the chain (leaf first), the private key (PKCS#8, SEC1 or
    /// PKCS#1) and the trust bundle (one or more roots).
    pub fn from_pem(
        cert_chain_pem: &str,
        key_pem: &str,
        trust_bundle_pem: &str,
    ) -> Result<Svid, IdentityError> {
        let cert_chain =
            parse_certs(cert_chain_pem).map_err(|reason| IdentityError::InvalidCredentials {
                what: "certificate chain PEM",
                reason,
            })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| {
            IdentityError::InvalidCredentials {
                what: "private key PEM",
                reason: e.to_string(),
            }
        })?;
        let trust_bundle =
            parse_certs(trust_bundle_pem).map_err(|reason| IdentityError::InvalidCredentials {
                what: "trust bundle PEM",
                reason,
            })?;
        Svid::new(cert_chain, key, trust_bundle)
    }
}

impl Clone for Svid {
    fn clone(&self) -> Self {
        Svid {
            spiffe_id: self.spiffe_id.clone(),
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            trust_bundle: self.trust_bundle.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
        }
    }
}

impl fmt::Debug for Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Svid")
            .field("spiffe_id", &self.spiffe_id)
            .field("cert_chain", &self.cert_chain.len())
            .field("trust_bundle", &self.trust_bundle.len())
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Every certificate of a PEM text, in order; at least one.
pub(crate) fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("it holds no CERTIFICATE block".into());
    }
    Ok(certs)
}

/// The `(not_before, not_after)` of a DER certificate.
fn validity(der: &CertificateDer<'_>) -> Result<(SystemTime, SystemTime), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("certificate does not parse: {e}"))?;
    let validity = cert.validity();
    Ok((
        to_system_time(validity.not_before.timestamp()),
        to_system_time(validity.not_after.timestamp()),
    ))
}

fn to_system_time(unix_seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix_seconds.unsigned_abs());
    if unix_seconds >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

#[cfg(test)]
mod tests {
    use rcgen::KeyPair;

    use super::super::csr;
    use super::super::test_ca::TestCa;
    use super::*;

    const ID: &str = "spiffe://cluster.local/ns/demo/sa/servicea";

    /// `(chain PEM, key PEM, bundle PEM)` for `ID`, valid for an hour from a whole second.
    fn pem_credentials(ca: &TestCa) -> (String, String, String, SystemTime) {
        let request = csr::generate().unwrap();
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let chain = ca.sign_csr_pem(
            &request.csr_pem,
            ID,
            start,
            start + Duration::from_secs(3600),
        );
        let key = KeyPair::try_from(request.key.secret_der()).unwrap();
        (
            chain[0].clone(),
            key.serialize_pem(),
            chain[1].clone(),
            start,
        )
    }

    #[test]
    fn reads_pem_credentials() {
        let ca = TestCa::new("mesh");
        let (chain, key, bundle, start) = pem_credentials(&ca);
        let svid = Svid::from_pem(&chain, &key, &bundle).unwrap();
        assert_eq!(svid.spiffe_id.to_string(), ID);
        assert_eq!(svid.trust_bundle, vec![ca.root()]);
        assert_eq!(svid.not_before, start);
        assert_eq!(svid.not_after, start + Duration::from_secs(3600));
        assert_eq!(svid.clone().key.secret_der(), svid.key.secret_der());
    }

    #[test]
    fn refuses_a_certificate_without_a_spiffe_id() {
        let plain = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = plain.cert.pem();
        let err = Svid::from_pem(&pem, &plain.signing_key.serialize_pem(), &pem).unwrap_err();
        assert!(err.to_string().contains("not an X.509 SVID"), "{err}");
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let ca = TestCa::new("mesh");
        let (chain, _, bundle, _) = pem_credentials(&ca);
        let (_, other_key, _, _) = pem_credentials(&ca);
        let err = Svid::from_pem(&chain, &other_key, &bundle).unwrap_err();
        assert!(err.to_string().starts_with("invalid private key"), "{err}");
    }

    #[test]
    fn refuses_an_empty_or_broken_pem() {
        let ca = TestCa::new("mesh");
        let (chain, key, _, _) = pem_credentials(&ca);
        let err = Svid::from_pem(&chain, &key, "").unwrap_err();
        assert!(
            err.to_string()
                .contains("trust bundle PEM: it holds no CERTIFICATE"),
            "{err}"
        );
        let err = Svid::from_pem(&chain, "not a key", &chain).unwrap_err();
        assert!(
            err.to_string().starts_with("invalid private key PEM"),
            "{err}"
        );
    }
}
