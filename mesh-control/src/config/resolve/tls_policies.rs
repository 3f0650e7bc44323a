//! TLSPolicies: the mTLS settings of every Service.
//!
//! A policy with a `targetRef` sets the Service it names; a policy without one sets every
//! Service of its namespace that no targeted policy names. Services no policy selects keep the
//! default (permissive). Two policies of the same scope for one Service are an error naming
//! both, and neither applies to it.

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::config::error::ConfigError;
use crate::config::kinds::meta::{NameRule, check_name};
use crate::config::kinds::tls_policy::TlsPolicySpec;
use crate::config::kinds::{Body, Origin, Parsed};
use crate::config::{ServiceConfig, ServiceRef, ServiceTls, TlsMode};

/// What a valid policy selects.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// Every Service of a namespace.
    Namespace(String),
    /// One Service.
    Service(ServiceRef),
}

/// Sets the `tls` of `services` from the TLSPolicies of `objects`; mistakes go to `errors`.
pub(crate) fn apply(
    objects: &[Parsed],
    services: &mut BTreeMap<ServiceRef, ServiceConfig>,
    errors: &mut Vec<ConfigError>,
) {
    let mut policies: BTreeMap<Scope, (ServiceTls, &Origin)> = BTreeMap::new();
    for object in objects {
        let Some(Body::TlsPolicy(spec)) = &object.body else {
            continue;
        };
        let Some((scope, tls)) = policy(object, spec, services, errors) else {
            continue;
        };
        if let Some((_, first)) = policies.get(&scope) {
            let (at, field, what) = match (&scope, &spec.target_ref) {
                (Scope::Service(service), Some(target)) => (
                    target.referenced,
                    "spec.targetRef",
                    format!("Service {service}"),
                ),
                _ => (
                    Location::UNKNOWN,
                    "spec",
                    format!("every Service of namespace {}", object.namespace),
                ),
            };
            let message = format!(
                "{} at {}:{} already sets the mTLS mode of {what}; keep one of the two policies",
                first.object, first.file, first.line
            );
            errors.push(object.origin.error(at, field, message));
            continue;
        }
        policies.insert(scope, (tls, &object.origin));
    }
    for (service, config) in services.iter_mut() {
        let targeted = policies.get(&Scope::Service(service.clone()));
        let namespace_wide = || policies.get(&Scope::Namespace(service.namespace.clone()));
        if let Some((tls, _)) = targeted.or_else(namespace_wide) {
            config.tls = tls.clone();
        }
    }
}

/// What a policy selects and sets, or `None` after reporting its mistakes.
fn policy(
    object: &Parsed,
    spec: &TlsPolicySpec,
    services: &BTreeMap<ServiceRef, ServiceConfig>,
    errors: &mut Vec<ConfigError>,
) -> Option<(Scope, ServiceTls)> {
    let origin = &object.origin;
    let before = errors.len();
    let mode = match spec.mode.value.as_str() {
        "STRICT" => Some(TlsMode::Strict),
        "PERMISSIVE" => Some(TlsMode::Permissive),
        "DISABLE" => Some(TlsMode::Disable),
        other => {
            let message = format!("{other:?} is not a mode; use STRICT, PERMISSIVE or DISABLE");
            errors.push(origin.error(spec.mode.referenced, "spec.mode", message));
            None
        }
    };
    for (i, account) in spec.service_accounts.iter().enumerate() {
        if let Err(problem) = check_name(&account.value, NameRule::Label) {
            let message = format!("{problem} (a service account name)");
            let field = format!("spec.serviceAccounts[{i}]");
            errors.push(origin.error(account.referenced, field, message));
        }
    }
    let scope = match &spec.target_ref {
        None => Scope::Namespace(object.namespace.clone()),
        Some(target) => {
            let target = &target.value;
            let group = target
                .group
                .as_ref()
                .filter(|g| !matches!(g.value.as_str(), "" | "core"));
            if let Some(group) = group {
                let message = format!(
                    "{:?}: a TLSPolicy selects Services, of the core group: use `group: \"\"` or leave it out",
                    group.value
                );
                errors.push(origin.error(group.referenced, "spec.targetRef.group", message));
            }
            if target.kind.value != "Service" {
                let message = format!(
                    "{:?}: a TLSPolicy selects Services only; use `kind: Service`, \
                     or leave out targetRef for every Service of the namespace",
                    target.kind.value
                );
                errors.push(origin.error(target.kind.referenced, "spec.targetRef.kind", message));
            }
            let service = ServiceRef::new(&object.namespace, &target.name.value);
            if errors.len() == before && !services.contains_key(&service) {
                let message = format!(
                    "Service {service} does not exist; create it or fix the name \
                     (a TLSPolicy selects Services of its own namespace)"
                );
                errors.push(origin.error(target.name.referenced, "spec.targetRef.name", message));
            }
            Scope::Service(service)
        }
    };
    let service_accounts = spec
        .service_accounts
        .iter()
        .map(|a| a.value.clone())
        .collect();
    let mode = mode.filter(|_| errors.len() == before)?;
    Some((
        scope,
        ServiceTls {
            mode,
            service_accounts,
        },
    ))
}
