//! The parts every object shares: `apiVersion`, `kind` and `metadata`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// The first read of a document: which kind of object it is and its name.
///
/// Fields of the kind itself are ignored here; the kind's own type reads them strictly.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header {
    pub(crate) api_version: Option<Spanned<String>>,
    pub(crate) kind: Option<Spanned<String>>,
    pub(crate) metadata: Option<Spanned<Metadata>>,
}

/// `metadata`: the name, namespace and labels. Other fields (uid, annotations, ...) are ignored.
#[derive(Debug, Deserialize)]
pub(crate) struct Metadata {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) namespace: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
}

/// How strict a name check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameRule {
    /// A DNS label (RFC 1123): Service names and namespaces, which become DNS names.
    Label,
    /// A DNS subdomain: the names of other objects.
    Subdomain,
}

/// Checks a Kubernetes object or namespace name; the error says what to change.
pub(crate) fn check_name(name: &str, rule: NameRule) -> Result<(), String> {
    let (max, dots) = match rule {
        NameRule::Label => (63, false),
        NameRule::Subdomain => (253, true),
    };
    let allowed =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || (dots && c == '.');
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if name.is_empty() {
        return Err("is empty; give it a name".to_string());
    }
    if name.len() > max {
        return Err(format!(
            "{name:?} is longer than {max} characters; shorten it"
        ));
    }
    let ends_ok = name.starts_with(alnum) && name.ends_with(alnum);
    if !name.chars().all(allowed) || !ends_ok {
        let what = if dots {
            "lower-case letters, digits, '-' and '.'"
        } else {
            "lower-case letters, digits and '-'"
        };
        return Err(format!(
            "{name:?} is not a valid name: use {what}, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("serviceb-v1", NameRule::Label).is_ok());
        assert!(check_name("a.b", NameRule::Subdomain).is_ok());
        assert!(
            check_name("a.b", NameRule::Label)
                .unwrap_err()
                .contains("'-'")
        );
        assert!(
            check_name("ServiceB", NameRule::Label)
                .unwrap_err()
                .contains("\"ServiceB\"")
        );
        assert!(check_name("-a", NameRule::Label).is_err());
        assert!(
            check_name("", NameRule::Subdomain)
                .unwrap_err()
                .contains("empty")
        );
        assert!(
            check_name(&"a".repeat(64), NameRule::Label)
                .unwrap_err()
                .contains("63")
        );
    }
}
