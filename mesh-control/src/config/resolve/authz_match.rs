//! The `from` and `to` entries of AuthorizationPolicy rules, in model terms.
//!
//! A `from` entry names one caller. Service accounts and namespaces stay abstract
//! ([`Caller`]): the snapshot makes SPIFFE IDs of them in mesh-control's trust domain. A
//! `spiffeId` must be well formed here: an exact one a full SPIFFE ID with a path, in the
//! canonical (lower-case) form certificates carry, and a prefix one at least
//! `spiffe://<trust domain>/`.
//!
//! A `to` entry becomes one [`Permission`] per HTTP method it lists (one without methods).
//! A gRPC method is a path: `/service/method` exactly, or the prefix `/service/` for every
//! method of the service.

use mesh_core::model::{Permission, StringMatch};
use serde_saphyr::Spanned;
use spiffe::{SpiffeId, TrustDomain};

use super::fields::Fields;
use super::grpc_match::{GrpcPart, check_grpc_name};
use super::http_match::check_method;
use super::matching::headers;
use crate::config::kinds::authorization_policy::{GrpcMethod, Operation, Source, ValueMatch};
use crate::config::kinds::meta::{NameRule, check_name};
use crate::config::{Caller, WorkloadIdentity};

/// The caller of a `from` entry at `field`, or `None` after reporting its mistakes.
pub(crate) fn caller(
    fields: &mut Fields<'_>,
    namespace: &str,
    source: &Spanned<Source>,
    field: &str,
) -> Option<Caller> {
    let s = &source.value;
    let named = [
        s.service_account.is_some(),
        s.namespace.is_some(),
        s.spiffe_id.is_some(),
        s.authenticated.is_some(),
    ];
    let count = named.iter().filter(|n| **n).count();
    if count != 1 {
        let problem = if count == 0 {
            "names no caller"
        } else {
            "names more than one caller"
        };
        let message = format!(
            "{problem}; write one of serviceAccount, namespace, spiffeId or authenticated per \
             entry (a rule takes a call from any of its entries)"
        );
        fields.error(source.referenced, field, message);
        return None;
    }
    if let Some(account) = &s.service_account {
        let (ns, name) = account
            .value
            .split_once('/')
            .unwrap_or((namespace, &account.value));
        let problems: Vec<String> = [(ns, "namespace"), (name, "service account")]
            .iter()
            .filter_map(|(value, what)| check_name(value, NameRule::Label).err().map(|p| (p, what)))
            .map(|(problem, what)| format!("{problem} (a {what} name)"))
            .collect();
        if !problems.is_empty() {
            let message = format!(
                "{}; write `<account>` for one of namespace {namespace}, or `<namespace>/<account>`",
                problems.join("; ")
            );
            fields.error(
                account.referenced,
                &format!("{field}.serviceAccount"),
                message,
            );
            return None;
        }
        return Some(Caller::ServiceAccount(WorkloadIdentity {
            namespace: ns.to_string(),
            service_account: name.to_string(),
        }));
    }
    if let Some(ns) = &s.namespace {
        if let Err(problem) = check_name(&ns.value, NameRule::Label) {
            let message = format!("{problem} (a namespace name)");
            fields.error(ns.referenced, &format!("{field}.namespace"), message);
            return None;
        }
        return Some(Caller::Namespace(ns.value.clone()));
    }
    if let Some(id) = &s.spiffe_id {
        return spiffe_id(fields, id, &format!("{field}.spiffeId")).map(Caller::SpiffeId);
    }
    match &s.authenticated {
        Some(yes) if yes.value => Some(Caller::Authenticated),
        Some(no) => {
            let message = "`false` is not supported: a rule cannot pick out plaintext callers; \
                           write `authenticated: true`, or leave out `from` to match every caller";
            fields.error(no.referenced, &format!("{field}.authenticated"), message);
            None
        }
        None => None,
    }
}

/// The match of a `spiffeId`, checked; `None` after reporting.
fn spiffe_id(
    fields: &mut Fields<'_>,
    id: &Spanned<ValueMatch>,
    field: &str,
) -> Option<StringMatch> {
    let (kind, value) = one_of(fields, id, field)?;
    let field = format!("{field}.{kind}");
    let example = "such as spiffe://cluster.local/ns/demo/sa/servicea";
    let problem = match kind {
        "exact" => match SpiffeId::new(&value.value) {
            Err(e) => Some(format!(
                "{:?} is not a SPIFFE ID ({e}); write spiffe://<trust domain>/<path>, {example}",
                value.value
            )),
            Ok(parsed) if parsed.path().is_empty() => Some(format!(
                "{:?} names a trust domain, not a workload; add the path, {example}",
                value.value
            )),
            Ok(parsed) if parsed.to_string() != value.value => Some(format!(
                "{:?} is not how certificates write it; write {parsed}",
                value.value
            )),
            Ok(_) => None,
        },
        "prefix" => spiffe_prefix(&value.value).err(),
        _ => value.value.is_empty().then(|| {
            "is empty; write the end of the SPIFFE IDs to match, such as /sa/servicea".into()
        }),
    };
    if let Some(message) = problem {
        fields.error(value.referenced, &field, message);
        return None;
    }
    Some(string_match(kind, &value.value))
}

/// Checks that `prefix` starts with `spiffe://<trust domain>/`.
fn spiffe_prefix(prefix: &str) -> Result<(), String> {
    let how = "write spiffe://<trust domain>/ and the start of the path, such as \
               spiffe://cluster.local/ns/demo/";
    let Some((domain, _)) = prefix
        .strip_prefix("spiffe://")
        .and_then(|rest| rest.split_once('/'))
    else {
        return Err(format!(
            "{prefix:?} does not start with spiffe://<trust domain>/; {how}"
        ));
    };
    match TrustDomain::new(domain) {
        Ok(td) if td.as_str() == domain => Ok(()),
        Ok(td) => Err(format!(
            "{domain:?} is not how certificates write the trust domain; write {td}"
        )),
        Err(e) => Err(format!("{domain:?} is not a trust domain ({e}); {how}")),
    }
}

/// The permissions of a `to` entry at `field`, or `None` after reporting its mistakes.
pub(crate) fn permissions(
    fields: &mut Fields<'_>,
    operation: &Spanned<Operation>,
    field: &str,
) -> Option<Vec<Permission>> {
    let op = &operation.value;
    let mark = fields.mark();
    if op.grpc.is_none() && op.path.is_none() && op.methods.is_empty() && op.headers.is_empty() {
        let message = "names no request; set grpc, path, methods or headers, or leave out `to` \
                       to match every request";
        fields.error(operation.referenced, field, message);
        return None;
    }
    let path = match (&op.grpc, &op.path) {
        (Some(grpc), Some(_)) => {
            let message = "has both grpc and path; a gRPC method is a path: keep one of them";
            fields.error(grpc.referenced, field, message);
            None
        }
        (Some(grpc), None) => grpc_path(fields, grpc, &format!("{field}.grpc")),
        (None, Some(path)) => request_path(fields, path, &format!("{field}.path")),
        (None, None) => None,
    };
    let mut methods: Vec<String> = Vec::new();
    for (i, method) in op.methods.iter().enumerate() {
        let at = format!("{field}.methods[{i}]");
        if let Err(message) = check_method(&method.value) {
            fields.error(method.referenced, &at, message);
        } else if op.grpc.is_some() && method.value != "POST" {
            let message = format!(
                "{} can never match: gRPC calls are POST requests; leave out `methods`",
                method.value
            );
            fields.error(method.referenced, &at, message);
        } else if !methods.contains(&method.value) {
            methods.push(method.value.clone());
        }
    }
    let (origin, errors) = fields.parts();
    let headers = headers(origin, field, &op.headers, errors);
    if !fields.clean_since(mark) {
        return None;
    }
    let permission = |method: Option<String>| Permission {
        path: path.clone(),
        method,
        headers: headers.clone().unwrap_or_default(),
    };
    if methods.is_empty() {
        return Some(vec![permission(None)]);
    }
    Some(methods.into_iter().map(|m| permission(Some(m))).collect())
}

/// The path of a gRPC service or method.
fn grpc_path(
    fields: &mut Fields<'_>,
    grpc: &Spanned<GrpcMethod>,
    field: &str,
) -> Option<StringMatch> {
    let GrpcMethod { service, method } = &grpc.value;
    let mut name = |part: &Spanned<String>, what: GrpcPart| {
        let checked = check_grpc_name(&part.value, what);
        if let Err(message) = &checked {
            fields.error(
                part.referenced,
                &format!("{field}.{}", what.field()),
                message,
            );
        }
        checked.is_ok()
    };
    let service_ok = name(service, GrpcPart::Service);
    let method_ok = method.as_ref().is_none_or(|m| name(m, GrpcPart::Method));
    if !(service_ok && method_ok) {
        return None;
    }
    Some(match method {
        Some(m) => StringMatch::Exact(format!("/{}/{}", service.value, m.value)),
        None => StringMatch::Prefix(format!("/{}/", service.value)),
    })
}

/// The match of a request `path`.
fn request_path(
    fields: &mut Fields<'_>,
    path: &Spanned<ValueMatch>,
    field: &str,
) -> Option<StringMatch> {
    let (kind, value) = one_of(fields, path, field)?;
    let bad = match kind {
        "suffix" => value.value.is_empty(),
        _ => !value.value.starts_with('/'),
    };
    if bad {
        let message = match kind {
            "suffix" => "is empty; write the end of the paths to match, such as .json".to_string(),
            _ => format!(
                "{:?} does not start with '/'; write it as /{}",
                value.value, value.value
            ),
        };
        fields.error(value.referenced, &format!("{field}.{kind}"), message);
        return None;
    }
    Some(string_match(kind, &value.value))
}

/// The one field set of a string condition, by name, or `None` after reporting.
fn one_of<'v>(
    fields: &mut Fields<'_>,
    condition: &'v Spanned<ValueMatch>,
    field: &str,
) -> Option<(&'static str, &'v Spanned<String>)> {
    let c = &condition.value;
    let set: Vec<(&'static str, &Spanned<String>)> = [
        ("exact", &c.exact),
        ("prefix", &c.prefix),
        ("suffix", &c.suffix),
    ]
    .into_iter()
    .filter_map(|(kind, value)| value.as_ref().map(|v| (kind, v)))
    .collect();
    match set.as_slice() {
        [one] => Some(*one),
        _ => {
            let message = "must set exactly one of exact, prefix and suffix";
            fields.error(condition.referenced, field, message);
            None
        }
    }
}

/// The model match of a checked condition.
fn string_match(kind: &str, value: &str) -> StringMatch {
    match kind {
        "exact" => StringMatch::Exact(value.to_string()),
        "prefix" => StringMatch::Prefix(value.to_string()),
        _ => StringMatch::Suffix(value.to_string()),
    }
}
