//! Which endpoints a pick may take.
//!
//! A pick skips the endpoints outlier detection ejected and those earlier attempts of the same
//! request went to (as xDS `previous_hosts` does). When that leaves nothing, the pick takes the
//! tried endpoints back first, then the ejected ones (still avoiding the tried ones if it can):
//! a request never fails only because endpoints are ejected.

use std::net::SocketAddr;

use super::Endpoint;

/// A condition on the endpoints a pick may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Filter<'a> {
    skip_ejected: bool,
    avoid: &'a [SocketAddr],
}

impl Filter<'_> {
    /// Every endpoint.
    pub(super) const ANY: Filter<'static> = Filter {
        skip_ejected: false,
        avoid: &[],
    };

    /// Whether every endpoint passes (so a pick can index the endpoints directly).
    pub(super) fn is_any(self) -> bool {
        self == Filter::ANY
    }

    /// Whether `endpoint` passes.
    pub(super) fn admits(self, endpoint: &Endpoint) -> bool {
        let skipped = self.skip_ejected && endpoint.is_ejected();
        !skipped && !self.avoid.contains(&endpoint.address())
    }

    /// The filters to try in turn, strictest first, the last one [`Filter::ANY`]: skipping
    /// `avoid` and (if `ejections`) the ejected endpoints, then only the ejected ones, then
    /// only `avoid`, then none. Repeats are left out.
    pub(super) fn chain(avoid: &[SocketAddr], ejections: bool) -> impl Iterator<Item = Filter<'_>> {
        let filter = |skip_ejected, avoid| Filter {
            skip_ejected,
            avoid,
        };
        let all = [
            filter(ejections, avoid),
            filter(ejections, &[]),
            filter(false, avoid),
            Filter::ANY,
        ];
        (0..all.len())
            .filter(move |&i| !all[..i].contains(&all[i]))
            .map(move |i| all[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_relax_the_avoided_endpoint_first() {
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let a = &[a][..];
        let chain = |avoid, ejections| Filter::chain(avoid, ejections).collect::<Vec<_>>();
        assert_eq!(chain(&[], false), [Filter::ANY]);
        let skip_ejected = Filter {
            skip_ejected: true,
            avoid: &[],
        };
        assert_eq!(chain(&[], true), [skip_ejected, Filter::ANY]);
        let avoid = Filter {
            skip_ejected: false,
            avoid: a,
        };
        assert_eq!(chain(a, false), [avoid, Filter::ANY]);
        let both = Filter {
            skip_ejected: true,
            avoid: a,
        };
        assert_eq!(chain(a, true), [both, skip_ejected, avoid, Filter::ANY]);
    }
}
