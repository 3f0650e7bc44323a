//! The CA settings `serve` and `bootstrap` share: where the root is kept, the trust domain and
//! the lifetime of the certificates.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use spiffe::TrustDomain;

use crate::ca::{CertificateAuthority, RootCa};
use crate::config::{NameRule, WorkloadIdentity, check_name};
use crate::snapshot::DEFAULT_TRUST_DOMAIN;

/// The default lifetime of workload certificates, in seconds (24 h).
const DEFAULT_SVID_TTL: u64 = 86_400;

/// `--state-dir`, `--trust-domain` and `--svid-ttl`.
#[derive(Debug, Args)]
pub(super) struct CaArgs {
    /// Where mesh-control keeps its CA root (made on first start) [default:
    /// $XDG_STATE_HOME/mesh-control, else $HOME/.local/state/mesh-control].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The trust domain of the SPIFFE IDs the CA issues.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_TRUST_DOMAIN,
          value_parser = parse_trust_domain)]
    trust_domain: TrustDomain,
    /// The lifetime of the certificates the CA issues; workloads may ask for less.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_SVID_TTL,
          value_parser = clap::value_parser!(u64).range(1..))]
    svid_ttl: u64,
}

impl CaArgs {
    /// The CA `serve` signs with: `operator_root` (certificate and key files) if given, else
    /// the root of the state directory, made there if absent. Logs which root it is.
    pub(super) fn serving_authority(
        &self,
        operator_root: Option<(&Path, &Path)>,
    ) -> anyhow::Result<CertificateAuthority> {
        let root = match operator_root {
            Some((cert, key)) => {
                let root = RootCa::from_files(cert, key)?;
                log_root(&root, &format!("from {}", cert.display()));
                root
            }
            None => {
                let dir = self.state_dir()?;
                let (root, made) = RootCa::load_or_generate(&dir)?;
                let how = if made { "made now and kept" } else { "kept" };
                log_root(&root, &format!("{how} in {}", dir.display()));
                root
            }
        };
        let ca = self.authority(root);
        tracing::info!(
            "issuing certificates for spiffe://{}/ns/<namespace>/sa/<service account>, \
             valid for up to {}s",
            ca.trust_domain(),
            ca.svid_ttl().as_secs()
        );
        Ok(ca)
    }

    /// The CA with the root of the state directory, which `serve` made; an error if absent.
    pub(super) fn existing_authority(&self) -> anyhow::Result<CertificateAuthority> {
        Ok(self.authority(RootCa::load(&self.state_dir()?)?))
    }

    fn authority(&self, root: RootCa) -> CertificateAuthority {
        let ttl = Duration::from_secs(self.svid_ttl);
        CertificateAuthority::new(root, self.trust_domain.clone(), ttl)
    }

    fn state_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.state_dir {
            Some(dir) => Ok(dir.clone()),
            None => default_state_dir(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
                .context(
                    "cannot tell where to keep the CA: neither XDG_STATE_HOME nor HOME is set; \
                 pass --state-dir",
                ),
        }
    }
}

/// `$XDG_STATE_HOME/mesh-control`, else `$HOME/.local/state/mesh-control` (relative values
/// are ignored, as the XDG spec says).
fn default_state_dir(xdg_state_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let absolute = |value: Option<OsString>| value.map(PathBuf::from).filter(|p| p.is_absolute());
    absolute(xdg_state_home)
        .or_else(|| absolute(home).map(|home| home.join(".local/state")))
        .map(|base| base.join("mesh-control"))
}

fn log_root(root: &RootCa, origin: &str) {
    tracing::info!(
        subject = root.subject(),
        sha256 = %root.fingerprint(),
        expires = %time::OffsetDateTime::from(root.not_after()),
        "CA root {origin}"
    );
}

/// `NS/SA`, as in `demo/servicea`.
pub(super) fn parse_identity(text: &str) -> Result<WorkloadIdentity, String> {
    let (namespace, service_account) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not NAMESPACE/SERVICE-ACCOUNT (e.g. demo/servicea)"))?;
    for (what, name) in [
        ("namespace", namespace),
        ("service account", service_account),
    ] {
        check_name(name, NameRule::Label).map_err(|problem| format!("the {what} {problem}"))?;
    }
    Ok(WorkloadIdentity {
        namespace: namespace.to_string(),
        service_account: service_account.to_string(),
    })
}

fn parse_trust_domain(text: &str) -> Result<TrustDomain, String> {
    TrustDomain::new(text).map_err(|e| format!("{text:?} is not a trust domain: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_argument() {
        let id = parse_identity("demo/servicea").unwrap();
        assert_eq!(
            (id.namespace.as_str(), id.service_account.as_str()),
            ("demo", "servicea")
        );
        assert!(
            parse_identity("servicea")
                .unwrap_err()
                .contains("NAMESPACE/SERVICE-ACCOUNT")
        );
        let err = parse_identity("demo/Service_A").unwrap_err();
        assert!(
            err.starts_with("the service account \"Service_A\""),
            "{err}"
        );
        assert!(parse_identity("/a").unwrap_err().contains("namespace"));
    }

    #[test]
    fn trust_domain_argument() {
        assert_eq!(
            parse_trust_domain("example.org").unwrap().to_string(),
            "example.org"
        );
        assert!(parse_trust_domain("Not Valid").is_err());
    }

    #[test]
    fn state_dir_follows_xdg_then_home() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            default_state_dir(some("/x/state"), some("/home/u")),
            Some(PathBuf::from("/x/state/mesh-control"))
        );
        assert_eq!(
            default_state_dir(some("relative"), some("/home/u")),
            Some(PathBuf::from("/home/u/.local/state/mesh-control"))
        );
        assert_eq!(default_state_dir(None, None), None);
    }
}
