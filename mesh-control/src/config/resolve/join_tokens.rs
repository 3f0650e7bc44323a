//! JoinTokens: the credentials the CA accepts, by token.
//!
//! Messages here never contain a token: config errors end up in logs.

use std::collections::BTreeMap;

use crate::config::WorkloadIdentity;
use crate::config::error::ConfigError;
use crate::config::kinds::join_token::JoinTokenSpec;
use crate::config::kinds::meta::{NameRule, check_name};
use crate::config::kinds::{Body, Origin, Parsed};

/// The identity of every valid JoinToken of `objects`, by token; mistakes go to `errors`.
pub(crate) fn join_tokens(
    objects: &[Parsed],
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, WorkloadIdentity> {
    let mut tokens: BTreeMap<String, (WorkloadIdentity, &Origin)> = BTreeMap::new();
    for object in objects {
        let Some(Body::JoinToken(spec)) = &object.body else {
            continue;
        };
        let Some(identity) = identity(object, spec, errors) else {
            continue;
        };
        let token = &spec.token;
        match tokens.get(&token.value) {
            Some((_, first)) => {
                let message = format!(
                    "is the same token as the one of {} at {}:{}; give each JoinToken its own token",
                    first.object, first.file, first.line
                );
                errors.push(object.origin.error(token.referenced, "spec.token", message));
            }
            None => {
                tokens.insert(token.value.clone(), (identity, &object.origin));
            }
        }
    }
    tokens
        .into_iter()
        .map(|(token, (identity, _))| (token, identity))
        .collect()
}

/// The identity a JoinToken proves, or `None` after reporting its mistakes.
fn identity(
    object: &Parsed,
    spec: &JoinTokenSpec,
    errors: &mut Vec<ConfigError>,
) -> Option<WorkloadIdentity> {
    let origin = &object.origin;
    let before = errors.len();
    let token = &spec.token;
    if token.value.is_empty() {
        let message = "is empty; give a long random token, e.g. from `openssl rand -hex 16`";
        errors.push(origin.error(token.referenced, "spec.token", message));
    } else if !token.value.bytes().all(|b| b.is_ascii_graphic()) {
        let message = "has spaces or characters that are not printable ASCII; \
                       the token travels in an HTTP header: use letters, digits and punctuation";
        errors.push(origin.error(token.referenced, "spec.token", message));
    }
    let account = &spec.service_account;
    if let Err(problem) = check_name(&account.value, NameRule::Label) {
        let message = format!("{problem} (a service account name)");
        errors.push(origin.error(account.referenced, "spec.serviceAccount", message));
    }
    (errors.len() == before).then(|| WorkloadIdentity {
        namespace: object.namespace.clone(),
        service_account: account.value.clone(),
    })
}
