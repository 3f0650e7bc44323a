//! A certificate authority for tests: issues SVIDs with chosen IDs and validity.

use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CertificateSigningRequestParams,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use time::OffsetDateTime;

use super::{Svid, csr};

/// A self-signed root that signs leaf SVIDs.
pub(crate) struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    root: Certificate,
}

impl TestCa {
    /// A new root named `name`.
    pub(crate) fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let root = params.self_signed(&key).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            root,
        }
    }

    /// The root certificate.
    pub(crate) fn root(&self) -> CertificateDer<'static> {
        self.root.der().clone()
    }

    /// Certifies the key of `csr_pem` as `id` for `[not_before, not_after]`: `[leaf, root]`.
    pub(crate) fn sign_csr(
        &self,
        csr_pem: &str,
        id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Vec<CertificateDer<'static>> {
        self.sign_csr_pem(csr_pem, id, not_before, not_after)
            .iter()
            .map(|pem| CertificateDer::from_pem_slice(pem.as_bytes()).unwrap())
            .collect()
    }

    /// [`TestCa::sign_csr`] in PEM, as the CA service answers.
    pub(crate) fn sign_csr_pem(
        &self,
        csr_pem: &str,
        id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Vec<String> {
        let mut csr = CertificateSigningRequestParams::from_pem(csr_pem).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = OffsetDateTime::from(not_before);
        params.not_after = OffsetDateTime::from(not_after);
        csr.params = params;
        let leaf = csr.signed_by(&self.issuer).unwrap();
        vec![leaf.pem(), self.root.pem()]
    }

    /// A fresh key certified as `id` for `[not_before, not_after]`.
    pub(crate) fn svid_between(
        &self,
        id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Svid {
        let request = csr::generate().unwrap();
        let mut chain = self.sign_csr(&request.csr_pem, id, not_before, not_after);
        let root = chain.split_off(1);
        Svid::new(chain, request.key, root).unwrap()
    }

    /// A fresh key certified as `id`, valid from a minute ago for an hour.
    pub(crate) fn svid(&self, id: &str) -> Svid {
        let now = SystemTime::now();
        self.svid_between(
            id,
            now - Duration::from_secs(60),
            now + Duration::from_secs(3600),
        )
    }
}
