//! Credentials: who the caller of the certificate service is.
//!
//! The caller proves an identity with the request header `authorization: Bearer <token>`; the
//! CA issues a certificate for that identity and no other. Two kinds of token exist:
//!
//! - a **join token**, declared in the config by a `JoinToken` object (token -> namespace and
//!   service account). They are read from the current config at every request, so a hot reload
//!   adds and revokes tokens at once. The embedded default has zero-setup dev tokens.
//! - a **Kubernetes service-account token** (a JWT), the cluster path: its namespace and service
//!   account come from the Kubernetes TokenReview API. That needs the Kubernetes config source,
//!   which is not there yet, so these are refused with a message saying so.
//!
//! Tokens are secrets: no message or log line here contains one.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;
use tonic::metadata::MetadataMap;

use crate::config::{MeshConfig, WorkloadIdentity};

/// A credential found in a request.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A join token from the config.
    JoinToken(String),
    /// A Kubernetes service-account token (a JWT).
    ServiceAccountToken(String),
}

/// Why a caller is not authenticated; each message says what to send instead.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    /// No `authorization` header.
    #[error("no credential: send `authorization: Bearer <join token>`")]
    Missing,
    /// An `authorization` header that is not `Bearer <token>`.
    #[error(
        "the authorization header is not `Bearer <token>`: send `authorization: Bearer <join token>`"
    )]
    Malformed,
    /// A join token the config does not declare.
    #[error("unknown join token")]
    UnknownJoinToken,
    /// A service-account token, which needs Kubernetes.
    #[error(
        "Kubernetes service-account tokens need the Kubernetes config source (not available yet)"
    )]
    KubernetesUnavailable,
}

impl Credential {
    /// The credential in the request headers `metadata`.
    pub(crate) fn from_metadata(metadata: &MetadataMap) -> Result<Credential, AuthError> {
        let value = metadata.get("authorization").ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::Malformed)?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
            return Err(AuthError::Malformed);
        }
        Ok(if looks_like_jwt(token) {
            Credential::ServiceAccountToken(token.to_string())
        } else {
            Credential::JoinToken(token.to_string())
        })
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Credential::JoinToken(_) => "JoinToken",
            Credential::ServiceAccountToken(_) => "ServiceAccountToken",
        };
        write!(f, "{kind}(<secret>)")
    }
}

/// Whether `token` has the shape of a JWT: three base64url parts, the first a JSON header.
fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let base64url = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    parts.len() == 3 && parts[0].starts_with("eyJ") && parts.iter().all(|p| base64url(p))
}

/// Decides the identity a credential proves, from the current config.
#[derive(Clone, Debug)]
pub(crate) struct Authenticator {
    config: watch::Receiver<Arc<MeshConfig>>,
}

impl Authenticator {
    /// Checks join tokens against the latest config published on `config`.
    pub(crate) fn new(config: watch::Receiver<Arc<MeshConfig>>) -> Self {
        Self { config }
    }

    /// The identity `credential` proves.
    pub(crate) fn authenticate(
        &self,
        credential: &Credential,
    ) -> Result<WorkloadIdentity, AuthError> {
        match credential {
            Credential::JoinToken(token) => self
                .config
                .borrow()
                .join_tokens
                .get(token)
                .cloned()
                .ok_or(AuthError::UnknownJoinToken),
            Credential::ServiceAccountToken(_) => Err(AuthError::KubernetesUnavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn headers(authorization: Option<&str>) -> MetadataMap {
        let mut map = MetadataMap::new();
        if let Some(value) = authorization {
            map.insert("authorization", MetadataValue::try_from(value).unwrap());
        }
        map
    }

    fn identity(namespace: &str, service_account: &str) -> WorkloadIdentity {
        WorkloadIdentity {
            namespace: namespace.into(),
            service_account: service_account.into(),
        }
    }

    fn config_with(tokens: &[(&str, WorkloadIdentity)]) -> Arc<MeshConfig> {
        let mut config = MeshConfig::default();
        for (token, id) in tokens {
            config.join_tokens.insert(token.to_string(), id.clone());
        }
        Arc::new(config)
    }

    #[test]
    fn reads_bearer_tokens() {
        let read = |v| Credential::from_metadata(&headers(v));
        assert_eq!(
            read(Some("Bearer dev-a")),
            Ok(Credential::JoinToken("dev-a".into()))
        );
        assert_eq!(
            read(Some("bearer  dev-a ")),
            Ok(Credential::JoinToken("dev-a".into()))
        );
        assert_eq!(read(None), Err(AuthError::Missing));
        assert_eq!(read(Some("Basic abc")), Err(AuthError::Malformed));
        assert_eq!(read(Some("dev-a")), Err(AuthError::Malformed));
        assert_eq!(read(Some("Bearer ")), Err(AuthError::Malformed));
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_";
        assert_eq!(
            read(Some(&format!("Bearer {jwt}"))),
            Ok(Credential::ServiceAccountToken(jwt.into()))
        );
        assert!(
            AuthError::Missing
                .to_string()
                .contains("Bearer <join token>")
        );
    }

    #[test]
    fn join_tokens_come_from_the_current_config() {
        let config = watch::Sender::new(config_with(&[("dev-a", identity("demo", "a"))]));
        let auth = Authenticator::new(config.subscribe());
        let a = Credential::JoinToken("dev-a".into());
        let b = Credential::JoinToken("dev-b".into());
        assert_eq!(auth.authenticate(&a), Ok(identity("demo", "a")));
        assert_eq!(auth.authenticate(&b), Err(AuthError::UnknownJoinToken));

        // A hot reload revokes dev-a and adds dev-b.
        config.send_replace(config_with(&[("dev-b", identity("demo", "b"))]));
        assert_eq!(auth.authenticate(&a), Err(AuthError::UnknownJoinToken));
        assert_eq!(auth.authenticate(&b), Ok(identity("demo", "b")));
    }

    #[test]
    fn service_account_tokens_need_kubernetes() {
        let auth = Authenticator::new(watch::Sender::new(config_with(&[])).subscribe());
        let err = auth
            .authenticate(&Credential::ServiceAccountToken("eyJ.a.b".into()))
            .unwrap_err();
        assert_eq!(err, AuthError::KubernetesUnavailable);
        assert!(
            err.to_string().contains("Kubernetes config source"),
            "{err}"
        );
    }
}
