//! The CA root: a self-signed ECDSA P-256 certificate and its key.
//!
//! mesh-control makes its root on first start and keeps it in its state directory as
//! [`CERT_FILE`] and [`KEY_FILE`] (the key readable by its owner only), so that later starts,
//! and `mesh-control bootstrap`, sign with the same root and workloads keep trusting it. An
//! operator may bring their own root instead ([`RootCa::from_files`]). The key never leaves this
//! process: it is not sent, not logged, and its `Debug` output elides it.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::error::CaError;
use super::issue::random_serial;

/// The root certificate's file name in the state directory.
pub const CERT_FILE: &str = "ca-cert.pem";
/// The root key's file name in the state directory (mode 0600).
pub const KEY_FILE: &str = "ca-key.pem";
/// The common name of a root made by mesh-control.
pub const ROOT_COMMON_NAME: &str = "mesh-control root CA";
/// How long a root made by mesh-control is valid: ten years.
const ROOT_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// A CA root: its certificate and the key that signs with it.
pub struct RootCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    subject: String,
    not_after: SystemTime,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("subject", &self.subject)
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl RootCa {
    /// Loads the root kept in `state_dir`, or makes one and keeps it there (creating the
    /// directory). The flag says whether it was made now.
    pub fn load_or_generate(state_dir: &Path) -> Result<(RootCa, bool), CaError> {
        match Self::load(state_dir) {
            Err(CaError::Missing { .. }) => {}
            // The key without the certificate: another mesh-control may be writing it now.
            Err(CaError::Incomplete { .. }) => {
                return Self::load_when_complete(state_dir).map(|root| (root, false));
            }
            loaded => return loaded.map(|root| (root, false)),
        }
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CaError::Generate)?;
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, ROOT_COMMON_NAME);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = (now - Duration::from_secs(30)).into();
        params.not_after = (now + ROOT_LIFETIME).into();
        params.serial_number = Some(random_serial());
        let cert = params.self_signed(&key).map_err(CaError::Generate)?;

        create_private_dir(state_dir)?;
        let (cert_path, key_path) = paths(state_dir);
        // Both files are written whole under temporary names, then the key is linked into
        // place, which fails if another mesh-control starting at the same moment was first:
        // then its root is the one to load.
        let suffix: u64 = rand::random();
        let pending = |path: &Path| path.with_extension(format!("pem.{suffix:016x}.tmp"));
        let (cert_tmp, key_tmp) = (pending(&cert_path), pending(&key_path));
        write_file(&key_tmp, &key.serialize_pem(), 0o600, "write the CA key")?;
        write_file(&cert_tmp, &cert.pem(), 0o644, "write the CA certificate")?;
        let linked = fs::hard_link(&key_tmp, &key_path);
        let _ = fs::remove_file(&key_tmp);
        match linked {
            Ok(()) => fs::rename(&cert_tmp, &cert_path).map_err(|source| CaError::Io {
                action: "write the CA certificate",
                path: cert_path.clone(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&cert_tmp);
                return Self::load_when_complete(state_dir).map(|root| (root, false));
            }
            Err(source) => {
                let _ = fs::remove_file(&cert_tmp);
                return Err(CaError::Io {
                    action: "write the CA key",
                    path: key_path,
                    source,
                });
            }
        }
        Self::from_pem(cert.pem(), &cert_path, key, &key_path).map(|root| (root, true))
    }

    /// Loads the root another process is creating in `state_dir`, giving it a moment to write
    /// the certificate after the key.
    fn load_when_complete(state_dir: &Path) -> Result<RootCa, CaError> {
        for _ in 0..50 {
            match Self::load(state_dir) {
                Err(CaError::Incomplete { .. }) => std::thread::sleep(Duration::from_millis(20)),
                loaded => return loaded,
            }
        }
        Self::load(state_dir)
    }

    /// Loads the root kept in `state_dir`; [`CaError::Missing`] when there is none.
    pub fn load(state_dir: &Path) -> Result<RootCa, CaError> {
        let (cert_path, key_path) = paths(state_dir);
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Self::from_files(&cert_path, &key_path),
            (false, false) => Err(CaError::Missing {
                dir: state_dir.to_path_buf(),
            }),
            (true, false) => Err(CaError::Incomplete {
                found: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(CaError::Incomplete {
                found: key_path,
                missing: cert_path,
            }),
        }
    }

    /// Loads a root from PEM files: a CA certificate and its PKCS#8 private key.
    pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<RootCa, CaError> {
        let read = |path: &Path, action| {
            fs::read_to_string(path).map_err(|source| CaError::Io {
                action,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read(cert_path, "read the CA certificate")?;
        let key_pem = read(key_path, "read the CA key")?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| CaError::BadKey {
            path: key_path.to_path_buf(),
            reason: format!("{e}; give a PEM PKCS#8 key (`openssl pkcs8 -topk8 -nocrypt`)"),
        })?;
        Self::from_pem(cert_pem, cert_path, key, key_path)
    }

    /// Checks that `cert_pem` is a CA certificate for `key`, and makes the root.
    fn from_pem(
        cert_pem: String,
        cert_path: &Path,
        key: KeyPair,
        key_path: &Path,
    ) -> Result<RootCa, CaError> {
        let bad = |reason: String| CaError::BadCertificate {
            path: cert_path.to_path_buf(),
            reason,
        };
        let cert_der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| bad(format!("no PEM certificate in it ({e})")))?;
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| bad(format!("not an X.509 certificate ({e})")))?;
        if !x509.is_ca() {
            return Err(bad(
                "it is not a CA certificate (basic constraints CA:false); \
                            give a CA certificate"
                    .into(),
            ));
        }
        if x509.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CaError::BadKey {
                path: key_path.to_path_buf(),
                reason: format!(
                    "it is not the key of {}; give the key that belongs to the certificate",
                    cert_path.display()
                ),
            });
        }
        let not_after = x509.validity().not_after.timestamp();
        let not_after =
            SystemTime::UNIX_EPOCH + Duration::from_secs(not_after.max(0).unsigned_abs());
        if not_after <= SystemTime::now() {
            return Err(bad(format!(
                "it expired at {}; give a valid CA or remove both files to make a new one",
                x509.validity().not_after
            )));
        }
        let subject = x509.subject().to_string();
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| bad(format!("cannot sign with it ({e})")))?;
        Ok(RootCa {
            cert_pem,
            cert_der: cert_der.into_owned(),
            subject,
            not_after,
            issuer,
        })
    }

    /// The root certificate, PEM: the trust bundle of the mesh.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The root certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The root's subject, such as `CN=mesh-control root CA`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the root expires; no certificate it signs outlives it.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The SHA-256 fingerprint of the root certificate, as colon-separated hex bytes.
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.cert_der);
        let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// The signer, for issuing.
    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// The certificate and key paths in `state_dir`.
fn paths(state_dir: &Path) -> (PathBuf, PathBuf) {
    (state_dir.join(CERT_FILE), state_dir.join(KEY_FILE))
}

/// Creates `dir` (and its parents), readable by its owner only when it is new.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CaError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| CaError::Io {
        action: "create the directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes `text` to `path`, replacing it, with Unix permissions `mode` if it is new.
pub(crate) fn write_file(
    path: &Path,
    text: &str,
    mode: u32,
    action: &'static str,
) -> Result<(), CaError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| CaError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_then_reloaded_identically() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let (made, new) = RootCa::load_or_generate(&state).unwrap();
        assert!(new);
        assert_eq!(made.subject(), format!("CN={ROOT_COMMON_NAME}"));
        let (again, new) = RootCa::load_or_generate(&state).unwrap();
        assert!(!new);
        assert_eq!(again.cert_der(), made.cert_der());
        assert_eq!(again.fingerprint(), made.fingerprint());
        assert_eq!(RootCa::load(&state).unwrap().cert_pem(), made.cert_pem());

        let (_, x509) = x509_parser::parse_x509_certificate(made.cert_der()).unwrap();
        assert!(x509.is_ca());
        let usage = x509.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign() && usage.crl_sign() && !usage.digital_signature());
        let years = x509.validity().time_to_expiration().unwrap().whole_days() / 365;
        assert!((9..=10).contains(&years), "{years}");
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_root() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let roots: Vec<_> = (0..4)
            .map(|_| {
                let state = state.clone();
                std::thread::spawn(move || RootCa::load_or_generate(&state).unwrap().0)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap().fingerprint())
            .collect();
        assert!(roots.iter().all(|r| *r == roots[0]), "{roots:?}");
        let mut files: Vec<_> = fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, [CERT_FILE, KEY_FILE], "no leftovers");
    }

    #[cfg(unix)]
    #[test]
    fn the_key_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        RootCa::load_or_generate(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn debug_output_elides_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let (root, _) = RootCa::load_or_generate(dir.path()).unwrap();
        let key = fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        let body = key.lines().nth(1).unwrap();
        let debug = format!("{root:?}");
        assert!(
            debug.contains("fingerprint") && !debug.contains(body),
            "{debug}"
        );
    }

    #[test]
    fn missing_and_half_missing_roots_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = RootCa::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("start mesh-control serve first"), "{err}");
        RootCa::load_or_generate(dir.path()).unwrap();
        fs::remove_file(dir.path().join(CERT_FILE)).unwrap();
        let err = RootCa::load_or_generate(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains(CERT_FILE) && err.contains("does not"), "{err}");
    }

    #[test]
    fn operator_files_must_be_a_ca_and_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        RootCa::load_or_generate(&a).unwrap();
        RootCa::load_or_generate(&b).unwrap();
        let loaded = RootCa::from_files(&a.join(CERT_FILE), &a.join(KEY_FILE)).unwrap();
        assert_eq!(loaded.cert_pem(), RootCa::load(&a).unwrap().cert_pem());

        let err = RootCa::from_files(&a.join(CERT_FILE), &b.join(KEY_FILE))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not the key of"), "{err}");

        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&leaf_key)
            .unwrap();
        let (cert, key) = (dir.path().join("leaf.pem"), dir.path().join("leaf-key.pem"));
        fs::write(&cert, leaf.pem()).unwrap();
        fs::write(&key, leaf_key.serialize_pem()).unwrap();
        let err = RootCa::from_files(&cert, &key).unwrap_err().to_string();
        assert!(err.contains("not a CA certificate"), "{err}");
        let err = RootCa::from_files(&key, &key).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }
}
