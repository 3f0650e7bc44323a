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
    /// What takes one policy of the kind, for errors: `a Service`.
    pub(crate) holder: &'static str,
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

/// How the claims of policies on their targets are keyed.
pub(crate) trait TargetKey: Ord + Clone {
    /// The key of `target`, in `namespace`.
    fn of(namespace: &str, target: &Target) -> Self;
}

impl TargetKey for ServiceRef {
    fn of(namespace: &str, target: &Target) -> Self {
        ServiceRef::new(namespace, &target.name)
    }
}

/// Claims `targets` (in `namespace`) for `claimant`, a policy of `targetable`'s kind whose
/// origin `origin` gives, returning the keys it got: a target already claimed by an earlier
/// policy of the same kind is reported (naming both) and left to that one.
pub(crate) fn claim<'a, K: TargetKey, V: Copy>(
    fields: &mut Fields<'_>,
    claimed: &mut BTreeMap<K, V>,
    targetable: &Targetable,
    targets: Vec<Target>,
    namespace: &str,
    claimant: V,
    origin: impl Fn(V) -> &'a Origin,
) -> Vec<K> {
    let mut got = Vec::new();
    for target in targets {
        let key = K::of(namespace, &target);
        if let Some(&first) = claimed.get(&key) {
            let first = origin(first);
            let message = format!(
                "{} {namespace}/{} already has {} at {}:{}; {} takes one {}: merge them",
                target.kind,
                target.name,
                first.object,
                first.file,
                first.line,
                targetable.holder,
                targetable.policy
            );
            fields.error(target.at, &target.field, message);
            continue;
        }
        claimed.insert(key.clone(), claimant);
        got.push(key);
    }
    got
}
