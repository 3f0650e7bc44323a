//! Targets: the `xds:` names a [`MeshChannel`](crate::MeshChannel) is built for.
//!
//! A gRPC xDS target is `xds:///NAME` (or `xds:NAME`); `NAME`, such as `serviceb.demo:50051`, is
//! the xDS Listener the client asks for and also the domain its virtual hosts are matched
//! against. Targets with an xDS authority (`xds://AUTHORITY/NAME`, federation) are not supported.

use crate::Error;

const SCHEME: &str = "xds:";

/// The listener name of an `xds:` target.
pub(crate) fn listener_name(target: &str) -> Result<String, Error> {
    let invalid = |reason| Error::InvalidTarget {
        target: target.to_string(),
        reason,
    };
    let rest = target
        .get(..SCHEME.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(SCHEME))
        .map(|_| &target[SCHEME.len()..])
        .ok_or_else(|| invalid("the scheme is not xds:"))?;
    let name = match rest.strip_prefix("//") {
        Some(after_authority) => after_authority
            .strip_prefix('/')
            .ok_or_else(|| invalid("xDS authorities (xds://AUTHORITY/NAME) are not supported"))?,
        None => rest,
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name.contains(|c: char| c.is_whitespace() || c == '/' || c == '?' || c == '#') {
        return Err(invalid("the name holds whitespace, '/', '?' or '#'"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_name_the_listener() {
        assert_eq!(
            listener_name("xds:///serviceb.demo:50051").unwrap(),
            "serviceb.demo:50051"
        );
        assert_eq!(
            listener_name("xds:serviceb.demo:50051").unwrap(),
            "serviceb.demo:50051"
        );
        assert_eq!(listener_name("XDS:///serviceb").unwrap(), "serviceb");
    }

    #[test]
    fn bad_targets_say_why() {
        for (target, why) in [
            ("dns:///serviceb:50051", "scheme"),
            ("serviceb:50051", "scheme"),
            ("xds://control/serviceb", "authorities"),
            ("xds:///", "empty"),
            ("xds:", "empty"),
            ("xds:///a/b", "'/'"),
        ] {
            let err = listener_name(target).unwrap_err();
            assert!(matches!(err, Error::InvalidTarget { .. }), "{target}");
            assert!(err.to_string().contains(why), "{target}: {err}");
        }
    }
}
