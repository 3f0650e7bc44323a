//! Ring hash: consistent hashing of a request key to an endpoint (gRFC A42).
//!
//! Each endpoint owns entries on a ring of 64-bit hashes, entry `i` of the endpoint at `ADDR`
//! hashing `"ADDR_i"` with xxHash64; a request whose key hashes to `h` goes to the first entry at
//! or after `h`, wrapping round. The same key keeps its endpoint, and when endpoints come or
//! go only the keys of their entries move.
//!
//! The number of entries is proportional to weight (weights divided by their greatest common
//! divisor). Unlike A42, which spreads `min_ring_size` entries over whatever endpoints there
//! are, each unit of weight gets a power of two of entries: the smallest that makes a ring of at
//! least `min_ring_size` (at most `max_ring_size`, and never more than 65,536 entries, the
//! client's cap: [`RING_SIZE_CAP`]). So an endpoint that joins takes entries
//! without the others losing any, until the total weight crosses a power of two: the keys
//! that move go to the new endpoint only.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use super::filter::Filter;
use super::{Endpoint, gcd};

/// The most entries a ring may have, whatever the configuration says: bounds memory (gRPC caps
/// rings at 4096 entries by default; we allow larger ones).
const RING_SIZE_CAP: u64 = 1 << 16;

/// The hash of a request key, as ring entries are hashed: xxHash64 with seed 0, as gRPC.
pub(crate) fn hash_key(value: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(value, 0)
}

/// A hash ring over one endpoint set.
#[derive(Debug)]
pub(super) struct Ring {
    /// `(hash, endpoint index)`, sorted by hash.
    entries: Box<[(u64, u32)]>,
}

impl Ring {
    /// The ring of `endpoints` (address, weight) with `min_size..=max_size` entries.
    pub(super) fn new(endpoints: &[(SocketAddr, u32)], min_size: u64, max_size: u64) -> Self {
        let max_size = max_size.clamp(1, RING_SIZE_CAP);
        let min_size = min_size.clamp(1, max_size);
        let divisor = endpoints.iter().map(|&(_, w)| w).fold(0, gcd).max(1);
        let weights: Vec<u64> = endpoints
            .iter()
            .map(|&(_, w)| u64::from(w / divisor))
            .collect();
        let total: u64 = weights.iter().sum();
        if total == 0 {
            return Self {
                entries: Box::default(),
            };
        }
        let entries_of = |weight: u64| -> u64 {
            if total >= max_size {
                return (weight * max_size / total).max(1);
            }
            let mut per_weight = 1;
            while per_weight * total < min_size {
                per_weight *= 2;
            }
            if per_weight * total > max_size {
                per_weight = max_size / total;
            }
            weight * per_weight
        };
        let mut entries = Vec::new();
        let mut key = String::new();
        for (index, (&(address, _), &weight)) in endpoints.iter().zip(&weights).enumerate() {
            for i in 0..entries_of(weight) {
                key.clear();
                let _ = write!(key, "{address}_{i}");
                entries.push((hash_key(key.as_bytes()), index as u32));
            }
        }
        entries.sort_unstable();
        Self {
            entries: entries.into(),
        }
    }

    /// The endpoint owning `hash`: that of the first entry at or after it that passes
    /// `filter`, wrapping round; `endpoints` are those the ring was made for, in that order.
    pub(super) fn pick<'a>(
        &self,
        endpoints: &'a [Arc<Endpoint>],
        hash: u64,
        filter: Filter,
    ) -> Option<&'a Arc<Endpoint>> {
        let len = self.entries.len();
        let first = self.entries.partition_point(|&(h, _)| h < hash);
        (0..len)
            .map(|step| self.entries[(first + step) % len].1 as usize)
            .filter_map(|index| endpoints.get(index))
            .find(|endpoint| filter.admits(endpoint))
    }

    /// How many entries it has.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balance::DEFAULT_DECAY;

    fn set(ports: std::ops::RangeInclusive<u16>) -> (Vec<(SocketAddr, u32)>, Vec<Arc<Endpoint>>) {
        let weighted: Vec<(SocketAddr, u32)> =
            ports.map(|p| (([10, 0, 0, 1], p).into(), 1)).collect();
        let endpoints = weighted
            .iter()
            .map(|&(a, _)| Arc::new(Endpoint::new("c".into(), a, DEFAULT_DECAY, None)))
            .collect();
        (weighted, endpoints)
    }

    fn owner(ring: &Ring, endpoints: &[Arc<Endpoint>], key: u32) -> u16 {
        let hash = hash_key(format!("user-{key}").as_bytes());
        ring.pick(endpoints, hash, Filter::ANY)
            .unwrap()
            .address()
            .port()
    }

    #[test]
    fn hash_key_is_xxhash64_with_seed_zero() {
        // Reference values of XXH64 (seed 0).
        assert_eq!(hash_key(b""), 0xef46_db37_51d8_e999);
        assert_eq!(hash_key(b"a"), 0xd24e_c4f1_a98c_6e5b);
    }

    #[test]
    fn ring_size_is_within_bounds_and_follows_weight() {
        let (four, _) = set(1..=4);
        assert_eq!(Ring::new(&four, 1024, 4096).len(), 1024);
        let (five, _) = set(1..=5);
        assert_eq!(Ring::new(&five, 1024, 4096).len(), 5 * 256);
        assert_eq!(Ring::new(&five, 1024, 1100).len(), 5 * 220, "max wins");
        let weighted = [(four[0].0, 3), (four[1].0, 1)];
        let ring = Ring::new(&weighted, 1024, 4096);
        let owned_by_first = ring.entries.iter().filter(|e| e.1 == 0).count();
        assert_eq!((ring.len(), owned_by_first), (1024, 768));
    }

    #[test]
    fn keys_spread_over_the_endpoints() {
        let (weighted, endpoints) = set(1..=4);
        let ring = Ring::new(&weighted, 1024, 4096);
        let mut counts = [0; 4];
        for key in 0..10_000 {
            counts[usize::from(owner(&ring, &endpoints, key) - 1)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (1_800..3_200).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_new_endpoint_takes_a_fair_share_of_keys_from_the_others_only() {
        let (four, four_eps) = set(1..=4);
        let (five, five_eps) = set(1..=5);
        let before = Ring::new(&four, 1024, 4096);
        let after = Ring::new(&five, 1024, 4096);
        let rebuilt = Ring::new(&four, 1024, 4096);
        let mut moved = 0;
        for key in 0..10_000 {
            let (old, new) = (
                owner(&before, &four_eps, key),
                owner(&after, &five_eps, key),
            );
            assert_eq!(
                owner(&rebuilt, &four_eps, key),
                old,
                "a ring rebuilt from the same endpoints gives key {key} the same endpoint"
            );
            if old != new {
                assert_eq!(new, 5, "key {key} moved from {old} to another old endpoint");
                moved += 1;
            }
        }
        assert!(
            (1_000..3_000).contains(&moved),
            "{moved} of 10000 keys moved"
        );
    }

    #[test]
    fn a_key_whose_endpoint_is_skipped_goes_to_the_next_on_the_ring() {
        let (weighted, endpoints) = set(1..=3);
        let ring = Ring::new(&weighted, 1024, 4096);
        for key in 0..100 {
            let hash = hash_key(format!("user-{key}").as_bytes());
            let owner = ring.pick(&endpoints, hash, Filter::ANY).unwrap();
            let tried = [owner.address()];
            let avoid = Filter::chain(&tried, false).next().unwrap();
            let next = ring.pick(&endpoints, hash, avoid).unwrap();
            assert_ne!(next.address(), owner.address());
            assert_eq!(
                ring.pick(&endpoints, hash, avoid).unwrap().address(),
                next.address()
            );
        }
        let only = &endpoints[..1];
        let tried = [only[0].address()];
        let avoid = Filter::chain(&tried, false).next().unwrap();
        assert!(
            Ring::new(&weighted[..1], 4, 4)
                .pick(only, 1, avoid)
                .is_none()
        );
    }
}
