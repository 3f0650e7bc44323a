//! A throwaway certificate authority for tests: SPIFFE SVIDs signed by an in-memory root.

#![allow(dead_code, unreachable_pub)]

use mesh_core::identity::Identity;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The trust domain of test identities.
pub const TRUST_DOMAIN: &str = "cluster.local";

/// The SPIFFE ID of service account `sa` in namespace `demo`.
pub fn spiffe_id(sa: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/demo/sa/{sa}")
}

/// A root CA that signs workload certificates.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    root_pem: String,
}

impl TestCa {
    /// A new root named `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a fresh key");
        let root_pem = params.self_signed(&key).expect("a self-signed root").pem();
        TestCa {
            params,
            key,
            root_pem,
        }
    }

    /// The root certificate, as the trust bundle of the workloads it signs for.
    pub fn bundle_pem(&self) -> &str {
        &self.root_pem
    }

    /// A workload certificate and key (PEM) for `spiffe_id`.
    pub fn issue(&self, spiffe_id: &str) -> (String, String) {
        let mut params = CertificateParams::default();
        let uri = Ia5String::try_from(spiffe_id).expect("an ASCII SPIFFE ID");
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("a fresh key");
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("a signed leaf");
        (cert.pem(), key.serialize_pem())
    }

    /// A workload identity for service account `sa` (see [`spiffe_id`]) that trusts this root.
    pub fn identity(&self, sa: &str) -> Identity {
        let (cert, key) = self.issue(&spiffe_id(sa));
        Identity::from_pem(&cert, &key, self.bundle_pem()).expect("valid test PEMs")
    }
}
