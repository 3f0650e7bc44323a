//! Virtual host selection: which of a route table's virtual hosts serves a target.
//!
//! As in Envoy and gRPC, the domain that matches the host best wins: an exact domain beats a
//! suffix wildcard (`*.demo`), which beats a prefix wildcard (`serviceb.*`), which beats `*`.
//! Among wildcards of the same kind the longest domain wins. Matching ignores ASCII case.

use mesh_core::model::VirtualHost;

/// How well a domain matches a host; lower is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    Exact,
    /// A suffix wildcard; `Reverse` so that a longer domain sorts first.
    Suffix(std::cmp::Reverse<usize>),
    Prefix(std::cmp::Reverse<usize>),
    Any,
}

fn fit(domain: &str, host: &str) -> Option<Fit> {
    use std::cmp::Reverse;
    if domain == "*" {
        return Some(Fit::Any);
    }
    let ends_with = |suffix: &str| {
        host.len() >= suffix.len()
            && host.as_bytes()[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    let starts_with = |prefix: &str| {
        host.len() >= prefix.len()
            && host.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if let Some(suffix) = domain.strip_prefix('*') {
        // The wildcard stands for at least one character.
        return (!suffix.contains('*') && host.len() > suffix.len() && ends_with(suffix))
            .then_some(Fit::Suffix(Reverse(domain.len())));
    }
    if let Some(prefix) = domain.strip_suffix('*') {
        return (!prefix.contains('*') && host.len() > prefix.len() && starts_with(prefix))
            .then_some(Fit::Prefix(Reverse(domain.len())));
    }
    domain.eq_ignore_ascii_case(host).then_some(Fit::Exact)
}

/// The virtual host whose domains match `host` best; the first one on a tie.
pub(crate) fn select<'a>(virtual_hosts: &'a [VirtualHost], host: &str) -> Option<&'a VirtualHost> {
    virtual_hosts
        .iter()
        .filter_map(|vh| {
            let best = vh.domains.iter().filter_map(|d| fit(d, host)).min()?;
            Some((best, vh))
        })
        .min_by_key(|(best, _)| *best)
        .map(|(_, vh)| vh)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vh(name: &str, domains: &[&str]) -> VirtualHost {
        VirtualHost {
            name: name.into(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            routes: Vec::new(),
        }
    }

    fn pick(hosts: &[VirtualHost], host: &str) -> Option<String> {
        select(hosts, host).map(|vh| vh.name.clone())
    }

    #[test]
    fn exact_beats_suffix_beats_prefix_beats_any() {
        let all = vec![
            vh("any", &["*"]),
            vh("prefix", &["serviceb.*"]),
            vh("suffix", &["*.demo:50051"]),
            vh("exact", &["other", "ServiceB.demo:50051"]),
        ];
        assert_eq!(pick(&all, "serviceb.demo:50051").as_deref(), Some("exact"));
        assert_eq!(
            pick(&all[..3], "serviceb.demo:50051").as_deref(),
            Some("suffix")
        );
        assert_eq!(
            pick(&all[..2], "serviceb.demo:50051").as_deref(),
            Some("prefix")
        );
        assert_eq!(
            pick(&all[..1], "serviceb.demo:50051").as_deref(),
            Some("any")
        );
    }

    #[test]
    fn longest_wildcard_wins() {
        let hosts = vec![vh("short", &["*.demo"]), vh("long", &["*.b.demo"])];
        assert_eq!(pick(&hosts, "a.b.demo").as_deref(), Some("long"));
        let hosts = vec![vh("short", &["a.*"]), vh("long", &["a.b.*"])];
        assert_eq!(pick(&hosts, "a.b.demo").as_deref(), Some("long"));
    }

    #[test]
    fn no_match_is_none() {
        let hosts = vec![vh("x", &["servicea.demo", "*.other", "*.demo"])];
        assert_eq!(pick(&hosts, "serviceb.demo:50051"), None);
        // A wildcard needs at least one character, and only at an end.
        assert_eq!(pick(&[vh("x", &["*.demo"])], ".demo"), None);
        assert_eq!(pick(&[vh("x", &["a*b"])], "axb"), None);
    }
}
