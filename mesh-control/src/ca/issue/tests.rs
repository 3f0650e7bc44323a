//! Issuing: what a workload certificate holds, and which requests are refused.

use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair, SanType};
use rustls::RootCertStore;
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::pki_types::UnixTime;
use rustls::server::ParsedCertificate;
use x509_parser::extensions::GeneralName;

use super::*;
use crate::ca::test_authority;

const DAY: Duration = Duration::from_secs(86_400);

fn demo(service_account: &str) -> WorkloadIdentity {
    WorkloadIdentity {
        namespace: "demo".into(),
        service_account: service_account.into(),
    }
}

/// A CSR for a new key, asking for `sans` (URIs).
fn csr(sans: &[&str]) -> String {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    for san in sans {
        params
            .subject_alt_names
            .push(SanType::URI((*san).try_into().unwrap()));
    }
    params.serialize_request(&key).unwrap().pem().unwrap()
}

#[test]
fn signs_an_svid_that_chains_to_the_root() {
    let (_dir, ca) = test_authority(DAY);
    let issued = ca.sign_csr(&csr(&[]), &demo("servicea"), 0).unwrap();
    assert_eq!(
        issued.spiffe_id.to_string(),
        "spiffe://cluster.local/ns/demo/sa/servicea"
    );
    assert_eq!(issued.chain_pem.len(), 2);
    assert_eq!(issued.chain_pem[1], ca.root().cert_pem());

    let (_, leaf) = x509_parser::parse_x509_certificate(&issued.chain_der[0]).unwrap();
    let sans = &leaf
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names;
    assert_eq!(
        sans.as_slice(),
        [GeneralName::URI(
            "spiffe://cluster.local/ns/demo/sa/servicea"
        )]
    );
    assert_eq!(
        spiffe::cert::spiffe_id_from_der(&issued.chain_der[0]).unwrap(),
        issued.spiffe_id
    );
    assert!(!leaf.is_ca());
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.any);
    let usage = leaf.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && usage.key_encipherment() && !usage.key_cert_sign());

    let validity = leaf.validity();
    let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert_eq!(lifetime, 86_400 + 30, "a day, from 30 s ago");
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap();
    let skew = now.as_secs() as i64 - validity.not_before.timestamp();
    assert!((30..35).contains(&skew), "{skew}");

    let mut roots = RootCertStore::empty();
    roots.add(ca.root().cert_der().clone()).unwrap();
    let algorithms = rustls::crypto::ring::default_provider().signature_verification_algorithms;
    verify_server_cert_signed_by_trust_anchor(
        &ParsedCertificate::try_from(&issued.chain_der[0]).unwrap(),
        &roots,
        &[],
        UnixTime::now(),
        algorithms.all,
    )
    .unwrap();
}

#[test]
fn lifetime_is_capped_by_the_svid_ttl_and_at_least_a_second() {
    let (_dir, ca) = test_authority(Duration::from_secs(3600));
    let life = |requested| {
        let issued = ca.sign_csr(&csr(&[]), &demo("a"), requested).unwrap();
        issued.not_after.duration_since(issued.issued_at).unwrap()
    };
    assert_eq!(life(0), Duration::from_secs(3600));
    assert_eq!(life(600), Duration::from_secs(600));
    assert_eq!(life(86_400), Duration::from_secs(3600));
    assert_eq!(life(1), Duration::from_secs(1));
    let err = ca.sign_csr(&csr(&[]), &demo("a"), -5).unwrap_err();
    assert!(matches!(err, IssueError::NegativeValidity(-5)), "{err}");
}

#[test]
fn serials_differ() {
    let (_dir, ca) = test_authority(DAY);
    let a = ca.sign_csr(&csr(&[]), &demo("a"), 0).unwrap();
    let b = ca.sign_csr(&csr(&[]), &demo("a"), 0).unwrap();
    assert_ne!(a.serial, b.serial);
    assert_eq!(a.serial.len(), 32);
}

#[test]
fn a_csr_asking_for_another_identity_is_refused() {
    let (_dir, ca) = test_authority(DAY);
    let own = "spiffe://cluster.local/ns/demo/sa/servicea";
    assert!(ca.sign_csr(&csr(&[own]), &demo("servicea"), 0).is_ok());
    let other = "spiffe://cluster.local/ns/demo/sa/serviceb";
    let err = ca
        .sign_csr(&csr(&[other]), &demo("servicea"), 0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("asks for {other}")) && err.contains(&format!("proves {own}")),
        "{err}"
    );
}

#[test]
fn a_bad_csr_is_refused() {
    let (_dir, ca) = test_authority(DAY);
    let err = ca.sign_csr("not a csr", &demo("a"), 0).unwrap_err();
    assert!(matches!(err, IssueError::BadCsr(_)), "{err}");
    let garbage = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
    let err = ca.sign_csr(garbage, &demo("a"), 0).unwrap_err().to_string();
    assert!(err.contains("the CSR is invalid"), "{err}");
}
