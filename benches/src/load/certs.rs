//! Certificates for the scenarios that do not ask mesh-control's CA themselves (S1 and the
//! HAProxy sidecars of S3), issued by the same CA root that mesh-control serves S2 with: ECDSA
//! P-256 SVIDs for `spiffe://cluster.local/ns/bench/sa/<name>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mesh_control::ca::{CertificateAuthority, RootCa};
use mesh_control::config::WorkloadIdentity;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

/// The namespace of every identity of the benchmark.
pub const NAMESPACE: &str = "bench";
/// The trust domain, mesh-control's default.
pub const TRUST_DOMAIN: &str = "cluster.local";
/// The file of the leaf certificate then the root.
pub const CHAIN_FILE: &str = "chain.pem";
/// The file of the private key (PKCS#8).
pub const KEY_FILE: &str = "key.pem";
/// The file of the trust bundle (the root).
pub const ROOT_FILE: &str = "root.pem";
/// The file HAProxy reads: the chain, then the key.
pub const HAPROXY_FILE: &str = "haproxy.pem";

/// The SPIFFE ID of the benchmark's service account `name`.
pub fn spiffe_id(name: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/{NAMESPACE}/sa/{name}")
}

/// Issues a certificate for the service account `name` with the CA root kept in `state_dir`
/// (made if absent, where `mesh-control serve --state-dir` finds it), and writes
/// [`CHAIN_FILE`], [`KEY_FILE`], [`ROOT_FILE`] and [`HAPROXY_FILE`] into `dir`, which it
/// returns.
pub fn issue(state_dir: &Path, name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let (root, _) = RootCa::load_or_generate(state_dir)
        .with_context(|| format!("CA root in {}", state_dir.display()))?;
    let root_pem = root.cert_pem().to_string();
    let ca = CertificateAuthority::new(
        root,
        TRUST_DOMAIN.try_into().context("the trust domain")?,
        Duration::from_secs(24 * 3600),
    );
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("making a key")?;
    let identity = WorkloadIdentity {
        namespace: NAMESPACE.to_string(),
        service_account: name.to_string(),
    };
    let issued = ca
        .issue_for_key(&key, &identity, Vec::new())
        .with_context(|| format!("issuing a certificate for {name}"))?;
    let chain = issued.chain_pem.concat();
    let key_pem = key.serialize_pem();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (file, text) in [
        (CHAIN_FILE, chain.clone()),
        (KEY_FILE, key_pem.clone()),
        (ROOT_FILE, root_pem),
        (HAPROXY_FILE, format!("{chain}{key_pem}")),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(dir.to_path_buf())
}

/// The identity in `dir` (written by [`issue`]), for rustls configs like the mesh's own.
pub fn load_identity(dir: &Path) -> anyhow::Result<mesh_core::identity::Identity> {
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    mesh_core::identity::Identity::from_pem(&read(CHAIN_FILE)?, &read(KEY_FILE)?, &read(ROOT_FILE)?)
        .with_context(|| format!("loading the identity in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_files_that_load_as_a_mesh_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let tmp = tmp.path();
        let dir = issue(&tmp.join("state"), "server", &tmp.join("server")).unwrap();
        let identity = load_identity(&dir).unwrap();
        assert_eq!(identity.spiffe_id().to_string(), spiffe_id("server"));
        let haproxy = std::fs::read_to_string(dir.join(HAPROXY_FILE)).unwrap();
        assert_eq!(haproxy.matches("BEGIN CERTIFICATE").count(), 2);
        assert!(haproxy.contains("PRIVATE KEY"));
        // A second identity is issued by the same root.
        let other = issue(&tmp.join("state"), "client", &tmp.join("client")).unwrap();
        assert_eq!(
            std::fs::read(dir.join(ROOT_FILE)).unwrap(),
            std::fs::read(other.join(ROOT_FILE)).unwrap()
        );
    }
}
