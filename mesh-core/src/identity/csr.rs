//! A fresh key and the certificate signing request that asks the CA to certify it.
//!
//! The key is ECDSA P-256, made in memory for every request (so every rotation changes the key)
//! and never written anywhere. The CSR carries no name: the CA decides the identity from the
//! caller's credential, not from what the CSR asks for.

use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::IdentityError;

/// A new private key and a PEM CSR for its public key.
pub(crate) struct KeyAndCsr {
    /// The private key, PKCS#8.
    pub(crate) key: PrivateKeyDer<'static>,
    /// The PKCS#10 request, PEM.
    pub(crate) csr_pem: String,
}

/// Generates a P-256 key and its CSR.
pub(crate) fn generate() -> Result<KeyAndCsr, IdentityError> {
    let failed = |e: rcgen::Error| IdentityError::Key {
        reason: e.to_string(),
    };
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let csr_pem = params
        .serialize_request(&key_pair)
        .and_then(|csr| csr.pem())
        .map_err(failed)?;
    let key = PrivatePkcs8KeyDer::from(key_pair.serialize_der()).into();
    Ok(KeyAndCsr { key, csr_pem })
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateSigningRequestParams, PublicKeyData};

    use super::*;

    #[test]
    fn csr_certifies_the_generated_key_and_keys_differ() {
        let first = generate().unwrap();
        let csr = CertificateSigningRequestParams::from_pem(&first.csr_pem).unwrap();
        let PrivateKeyDer::Pkcs8(pkcs8) = &first.key else {
            panic!("expected a PKCS#8 key");
        };
        let key_pair = KeyPair::try_from(pkcs8.secret_pkcs8_der()).unwrap();
        assert_eq!(csr.public_key.der_bytes(), key_pair.der_bytes());

        let second = generate().unwrap();
        assert_ne!(first.key.secret_der(), second.key.secret_der());
    }
}
