//! A cheap hasher for the maps one placement cycle builds and probes many
//! times: agent ids to agent indices, agent indices to task counts, role
//! names, attribute-set fingerprints.
//!
//! The std `HashMap` hashes with SipHash-1-3, built to resist collision
//! attacks from untrusted keys; it was the largest single cost of a cycle's
//! lookups after allocation. Here the keys are small integers placement
//! assigns itself, or names the Mesos master and the operator's agent
//! configuration chose (agent ids, roles, attributes), never request input
//! from API clients, and a map lives for one cycle only. So a
//! multiply-rotate hash in the style of rustc's FxHash is enough: one
//! multiplication per word, with a final rotation so the low bits hashbrown
//! picks buckets from depend on the whole key.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(super) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// An odd constant with well spread bits (the one of rustc's FxHash).
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// Multiply-rotate hasher; see the module docs for when it is fit.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        // The multiplication leaves the high bits best mixed; hashbrown
        // takes its bucket from the low ones.
        self.hash.rotate_left(26)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash + ?Sized>(value: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(value)
    }

    #[test]
    fn equal_keys_hash_equal_and_near_keys_apart() {
        assert_eq!(hash("agent-S1"), hash("agent-S1"));
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash(""), hash("\0"));
        assert_ne!(hash(&(1u32, 2usize)), hash(&(2u32, 1usize)));
    }

    #[test]
    fn agent_ids_and_indices_spread_over_buckets() {
        // Mesos agent ids differ only in their tail; indices are dense.
        // Both must still use most of a power-of-two table's low bits.
        let buckets = 1u64 << 12;
        let ids: HashSet<u64> = (0..4096)
            .map(|i| hash(&format!("2f9c1d3e-7a0b-4c55-9e61-0123456789ab-S{i}")) % buckets)
            .collect();
        assert!(ids.len() > 2300, "only {} buckets used", ids.len());
        let indices: HashSet<u64> = (0..4096usize).map(|i| hash(&i) % buckets).collect();
        assert!(indices.len() > 2300, "only {} buckets used", indices.len());
    }

    #[test]
    fn maps_behave_as_maps() {
        let mut m: FastMap<String, u32> = FastMap::default();
        for i in 0..1000u32 {
            m.insert(format!("S{i}"), i);
        }
        assert_eq!(m.len(), 1000);
        assert!((0..1000u32).all(|i| m.get(&format!("S{i}")) == Some(&i)));
        assert_eq!(m.get("S1000"), None);
    }
}
