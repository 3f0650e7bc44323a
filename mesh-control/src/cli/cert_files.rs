//! The files of `mesh-control bootstrap --identity NS/SA --cert-dir DIR`, for an app that
//! cannot ask the CA itself (a Go, Java or Python gRPC app): a key, its certificate chain and
//! the trust bundle, read by gRPC's `file_watcher` certificate provider (gRFC A29).
//!
//! Each file is written under a temporary name and renamed into place, so an app re-reading
//! them while they are renewed never sees half a file.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::{Map, Value, json};

use crate::ca::root::{create_private_dir, write_file};
use crate::ca::{CertificateAuthority, IssuedCert};
use crate::config::WorkloadIdentity;

/// The private key, PKCS#8 PEM, readable by its owner only.
const KEY_FILE: &str = "key.pem";
/// The leaf certificate, then the root.
const CHAIN_FILE: &str = "cert-chain.pem";
/// The trust bundle: the CA root.
const ROOT_FILE: &str = "root.pem";
/// How often `file_watcher` re-reads the files.
const REFRESH_INTERVAL: &str = "60s";

/// Certificate files just written.
#[derive(Debug)]
pub(crate) struct CertFiles {
    /// The directory, absolute.
    dir: PathBuf,
}

impl CertFiles {
    /// The bootstrap's `certificate_providers`: one instance, `default`, reading the files.
    pub(crate) fn certificate_providers(&self) -> Map<String, Value> {
        let path = |name| self.dir.join(name).display().to_string();
        let default = json!({
            "plugin_name": "file_watcher",
            "config": {
                "certificate_file": path(CHAIN_FILE),
                "private_key_file": path(KEY_FILE),
                "ca_certificate_file": path(ROOT_FILE),
                "refresh_interval": REFRESH_INTERVAL,
            }
        });
        Map::from_iter([("default".to_string(), default)])
    }
}

/// Makes a key, has `ca` certify it for `identity`, and writes the files into `dir` (created
/// if needed).
pub(crate) fn write(
    ca: &CertificateAuthority,
    identity: &WorkloadIdentity,
    dir: &Path,
) -> anyhow::Result<CertFiles> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("cannot make a key")?;
    let issued = ca.issue_for_key(&key, identity, Vec::new())?;
    create_private_dir(dir)?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    replace(&dir, KEY_FILE, &key.serialize_pem(), 0o600)?;
    replace(&dir, CHAIN_FILE, &issued.chain_pem.concat(), 0o644)?;
    replace(&dir, ROOT_FILE, ca.root().cert_pem(), 0o644)?;
    report(&dir, &issued);
    Ok(CertFiles { dir })
}

/// Writes `dir/name` whole, by way of a temporary file.
fn replace(dir: &Path, name: &str, text: &str, mode: u32) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    // A leftover from an interrupted run would keep its old permissions.
    let _ = fs::remove_file(&tmp);
    write_file(&tmp, text, mode, "write")?;
    fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

fn report(dir: &Path, issued: &IssuedCert) {
    eprintln!(
        "wrote {KEY_FILE}, {CHAIN_FILE} and {ROOT_FILE} to {} for {}, valid until {}; \
         run this again before then to renew them",
        dir.display(),
        issued.spiffe_id,
        time::OffsetDateTime::from(issued.not_after),
    );
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    #[test]
    fn writes_a_key_its_chain_and_the_root() {
        let (_state, ca) = crate::ca::test_authority(std::time::Duration::from_secs(3600));
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("certs");
        let identity = WorkloadIdentity {
            namespace: "demo".into(),
            service_account: "servicea".into(),
        };
        let files = write(&ca, &identity, &dir).unwrap();
        let read = |name| fs::read_to_string(dir.join(name)).unwrap();

        assert_eq!(read(ROOT_FILE), ca.root().cert_pem());
        let chain: Vec<_> = CertificateDer::pem_slice_iter(read(CHAIN_FILE).as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(&chain[1], ca.root().cert_der());
        let id = spiffe::cert::spiffe_id_from_der(&chain[0]).unwrap();
        assert_eq!(id.to_string(), "spiffe://cluster.local/ns/demo/sa/servicea");
        let key = KeyPair::from_pem(&read(KEY_FILE)).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&chain[0]).unwrap();
        assert_eq!(
            leaf.public_key().subject_public_key.data.as_ref(),
            key.public_key_raw()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let providers = Value::Object(files.certificate_providers());
        let config = &providers["default"]["config"];
        assert_eq!(providers["default"]["plugin_name"], "file_watcher");
        let key_path = PathBuf::from(config["private_key_file"].as_str().unwrap());
        assert!(key_path.is_absolute() && key_path.ends_with("certs/key.pem"));
        assert_eq!(config["refresh_interval"], "60s");

        // Again, as a renewal: a new key replaces the old one.
        write(&ca, &identity, &dir).unwrap();
        assert_ne!(
            KeyPair::from_pem(&read(KEY_FILE)).unwrap().public_key_raw(),
            key.public_key_raw()
        );
    }
}
