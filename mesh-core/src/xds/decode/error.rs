//! The error of a resource that does not decode, with the path of the offending field.

use std::fmt;

/// A resource that is not valid for this client; becomes part of the NACK's `error_detail`.
///
/// Displayed as `Listener "serviceb.demo:50051": api_listener.api_listener: expected
/// HttpConnectionManager, got ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DecodeError {
    /// The resource type, such as `Listener` or `ClusterLoadAssignment`.
    pub kind: &'static str,
    /// The resource name (empty when the resource is too broken to have one).
    pub resource: String,
    /// The path of the offending field, such as `virtual_hosts[0].routes[2].match` (empty when
    /// the whole resource is at fault).
    pub field: String,
    /// What is wrong, and what is expected instead.
    pub reason: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}: ", self.kind, self.resource)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.reason)
    }
}

/// The resource being decoded, to make errors that name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context<'a> {
    pub(crate) kind: &'static str,
    pub(crate) resource: &'a str,
}

impl Context<'_> {
    /// An error at `field` of this resource.
    pub(crate) fn error(&self, field: impl Into<String>, reason: impl Into<String>) -> DecodeError {
        DecodeError {
            kind: self.kind,
            resource: self.resource.to_string(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_resource_and_field() {
        let ctx = Context {
            kind: "Listener",
            resource: "serviceb.demo:50051",
        };
        assert_eq!(
            ctx.error(
                "api_listener.api_listener",
                "expected HttpConnectionManager, got X"
            )
            .to_string(),
            "Listener \"serviceb.demo:50051\": api_listener.api_listener: expected \
             HttpConnectionManager, got X"
        );
        assert_eq!(
            ctx.error("", "broken").to_string(),
            "Listener \"serviceb.demo:50051\": broken"
        );
    }
}
