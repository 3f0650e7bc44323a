//! The `spec.targetRefs` of our policy kinds: objects of the policy's own namespace, of the kinds
//! the policy applies to.

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use super::fields::Fields;
use crate::config::ServiceRef;
use crate::config::kinds::Origin;
use crate::config::kinds::target_ref::TargetRef;

/// What a policy kind may target.
pub(crate) struct Targetable {
    /// The policy kind, for errors.
    pub(crate) policy: &'static str,
    /// The API group of the targets; the first is how errors write it, and `group` left out
    /// means it.
    pub(crate) groups: &'static [&'static str],
    /// The kinds of the targets.
    pub(crate) kinds: &'static [&'static str],
    /// An example of a target, for the error of an empty list.
    pub(crate) example: &'static str,
}

/// One valid target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// Its kind, one of [`Targetable::kinds`].
    pub(crate) kind: &'static str,
    /// Its name, in the policy's namespace.
    pub(crate) name: String,
    /// Where the reference is.
    pub(crate) at: Location,
    /// Its field path, `spec.targetRefs[i]`.
    pub(crate) field: String,
}

/// The valid targets of `refs`, without repeats; `exists(kind, name)` tells whether the
/// target exists in the policy's `namespace`. Mistakes are reported through `fields`.
pub(crate) fn targets(
    fields: &mut Fields<'_>,
    targetable: &Targetable,
    refs: &[Spanned<TargetRef>],
    namespace: &str,
    exists: impl Fn(&str, &str) -> bool,
) -> Vec<Target> {
    let kinds = targetable.kinds.join(" or ");
    if refs.is_empty() {
        let message = format!(
            "is empty; name what the {} applies to ({kinds}), such as `targetRefs: [{}]`",
            targetable.policy, targetable.example
        );
        fields.error(Location::UNKNOWN, "spec.targetRefs", message);
    }
    let mut targets: Vec<Target> = Vec::new();
    for (i, target) in refs.iter().enumerate() {
        let field = format!("spec.targetRefs[{i}]");
        let t = &target.value;
        let group = t.group.as_ref();
        if let Some(group) = group.filter(|g| !targetable.groups.contains(&g.value.as_str())) {
            let message = format!(
                "{:?} is not the group of {kinds}; use `group: {:?}` or leave it out",
                group.value, targetable.groups[0]
            );
            fields.error(group.referenced, &format!("{field}.group"), message);
            continue;
        }
        let Some(kind) = targetable.kinds.iter().find(|k| **k == t.kind.value) else {
            let message = format!(
                "{:?}: a {} applies to {kinds} only; use `kind: {}`",
                t.kind.value, targetable.policy, targetable.kinds[0]
            );
            fields.error(t.kind.referenced, &format!("{field}.kind"), message);
            continue;
        };
        let name = &t.name.value;
        if !exists(kind, name) {
            let message = format!(
                "{kind} {namespace}/{name} does not exist; create it or fix the name \
                 (a {} applies to objects of its own namespace)",
                targetable.policy
            );
            fields.error(t.name.referenced, &format!("{field}.name"), message);
            continue;
        }
        if !targets
            .iter()
            .any(|seen| seen.kind == *kind && seen.name == *name)
        {
            targets.push(Target {
                kind,
                name: name.clone(),
                at: target.referenced,
                field,
            });
        }
    }
    targets
}

/// Claims the Services of `targets` (in `namespace`) for the policy at `origin`, giving the
/// ones it got: a Service already claimed by an earlier policy of the same kind is reported
/// (naming both) and left to that one. `policy` is the kind, for errors.
pub(crate) fn claim<'a>(
    fields: &mut Fields<'_>,
    claimed: &mut BTreeMap<ServiceRef, &'a Origin>,
    targets: Vec<Target>,
    namespace: &str,
    origin: &'a Origin,
    policy: &str,
) -> Vec<ServiceRef> {
    let mut services = Vec::new();
    for target in targets {
        let service = ServiceRef::new(namespace, &target.name);
        if let Some(first) = claimed.get(&service) {
            let message = format!(
                "Service {service} already has {} at {}:{}; a Service takes one {policy}: \
                 merge them",
                first.object, first.file, first.line
            );
            fields.error(target.at, &target.field, message);
            continue;
        }
        claimed.insert(service.clone(), origin);
        services.push(service);
    }
    services
}
