//! `targetRef(s)`: the object a policy of ours applies to (Gateway API policy attachment).
//!
//! A target is always in the policy's own namespace, so a reference has no `namespace`:
//! `{group: "", kind: Service, name: serviceb-v1}`. Each policy kind says which kinds it
//! targets and which group it assumes when `group` is left out.

use serde::Deserialize;
use serde_saphyr::Spanned;

/// One target of a policy, in the policy's namespace.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetRef {
    /// The API group of the target's kind (`""` or `core` for Services).
    pub(crate) group: Option<Spanned<String>>,
    /// The target's kind.
    pub(crate) kind: Spanned<String>,
    /// The target's name.
    pub(crate) name: Spanned<String>,
}
