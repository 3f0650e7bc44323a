//! Signing: X.509 SVIDs for the identities that credentials prove.
//!
//! A workload certificate certifies the CSR's public key for exactly one name, the SAN URI
//! `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`, with an empty subject. It is
//! not a CA, may sign (digitalSignature, keyEncipherment) and serves both ends of mTLS (EKU
//! serverAuth and clientAuth). It is valid from 30 s ago (clocks drift) for the lifetime asked
//! for, at most the configured SVID lifetime and never past the root's expiry. Whatever else the
//! CSR asks for (subject, extensions) is ignored; a URI SAN other than the proven identity is
//! refused, since it shows the caller expected another identity.

use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, ExtendedKeyUsagePurpose,
    IsCa, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
};
use rustls::pki_types::CertificateDer;
use spiffe::{SpiffeId, TrustDomain};

use super::error::IssueError;
use super::root::RootCa;
use crate::config::WorkloadIdentity;

/// How far back a certificate's validity starts, for clocks that run behind ours.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(30);

/// The CA: a root, the trust domain it names identities in, and the longest SVID lifetime.
#[derive(Debug)]
pub struct CertificateAuthority {
    root: RootCa,
    trust_domain: TrustDomain,
    svid_ttl: Duration,
}

/// A certificate just issued.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The chain, PEM: the leaf, then the root.
    pub chain_pem: Vec<String>,
    /// The same chain, DER.
    pub chain_der: Vec<CertificateDer<'static>>,
    /// The identity it certifies.
    pub spiffe_id: SpiffeId,
    /// Its serial number, hex.
    pub serial: String,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// The start of its validity: [`CLOCK_SKEW`] before it was issued.
    pub not_before: SystemTime,
    /// When it expires.
    pub not_after: SystemTime,
}

impl CertificateAuthority {
    /// A CA signing with `root` for identities of `trust_domain`, issuing SVIDs valid for at
    /// most `svid_ttl` (at least one second).
    pub fn new(root: RootCa, trust_domain: TrustDomain, svid_ttl: Duration) -> Self {
        Self {
            root,
            trust_domain,
            svid_ttl: svid_ttl.max(Duration::from_secs(1)),
        }
    }

    /// The trust domain of the identities it issues.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// Its root.
    pub fn root(&self) -> &RootCa {
        &self.root
    }

    /// The longest (and default) lifetime of the certificates it issues.
    pub fn svid_ttl(&self) -> Duration {
        self.svid_ttl
    }

    /// The SPIFFE ID of `identity` in this trust domain.
    pub fn spiffe_id(&self, identity: &WorkloadIdentity) -> Result<SpiffeId, IssueError> {
        let id = identity.spiffe_id(&self.trust_domain);
        SpiffeId::new(&id).map_err(|e| IssueError::Identity(id, e))
    }

    /// Signs the PEM CSR `csr_pem` for `identity`, valid for `requested_secs` seconds (0: the
    /// default; more than the SVID lifetime: the SVID lifetime).
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        identity: &WorkloadIdentity,
        requested_secs: i64,
    ) -> Result<IssuedCert, IssueError> {
        let lifetime = self.lifetime(requested_secs)?;
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(IssueError::BadCsr)?;
        let spiffe_id = self.spiffe_id(identity)?;
        for san in &csr.params.subject_alt_names {
            if let SanType::URI(asked) = san
                && asked.as_str() != spiffe_id.to_string()
            {
                return Err(IssueError::ForeignIdentity {
                    asked: asked.as_str().to_string(),
                    proven: spiffe_id.to_string(),
                });
            }
        }
        self.issue(&csr.public_key, spiffe_id, Vec::new(), lifetime)
    }

    /// Issues a certificate for `identity` to the holder of `public_key`, valid for the SVID
    /// lifetime, with `extra_sans` (DNS names, IPs) after the SPIFFE ID.
    pub fn issue_for_key(
        &self,
        public_key: &impl PublicKeyData,
        identity: &WorkloadIdentity,
        extra_sans: Vec<SanType>,
    ) -> Result<IssuedCert, IssueError> {
        let spiffe_id = self.spiffe_id(identity)?;
        self.issue(public_key, spiffe_id, extra_sans, self.svid_ttl)
    }

    /// The lifetime granted for a request of `requested_secs`.
    fn lifetime(&self, requested_secs: i64) -> Result<Duration, IssueError> {
        match u64::try_from(requested_secs) {
            Err(_) => Err(IssueError::NegativeValidity(requested_secs)),
            Ok(0) => Ok(self.svid_ttl),
            Ok(secs) => Ok(Duration::from_secs(secs).clamp(Duration::from_secs(1), self.svid_ttl)),
        }
    }

    fn issue(
        &self,
        public_key: &impl PublicKeyData,
        spiffe_id: SpiffeId,
        extra_sans: Vec<SanType>,
        lifetime: Duration,
    ) -> Result<IssuedCert, IssueError> {
        let uri = spiffe_id.to_string().try_into().map_err(IssueError::Sign)?;
        let issued_at = SystemTime::now();
        let not_before = issued_at - CLOCK_SKEW;
        let not_after = (issued_at + lifetime).min(self.root.not_after());
        let serial = random_serial();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = [SanType::URI(uri)].into_iter().chain(extra_sans).collect();
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.serial_number = Some(serial.clone());
        params.use_authority_key_identifier_extension = true;
        let leaf = params
            .signed_by(public_key, self.root.issuer())
            .map_err(IssueError::Sign)?;
        Ok(IssuedCert {
            chain_pem: vec![leaf.pem(), self.root.cert_pem().to_string()],
            chain_der: vec![leaf.der().clone(), self.root.cert_der().clone()],
            spiffe_id,
            serial: hex(&serial.to_bytes()),
            issued_at,
            not_before,
            not_after,
        })
    }
}

/// A random positive 128-bit serial number.
pub(crate) fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01; // positive, and no leading zero byte
    SerialNumber::from_slice(&bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
