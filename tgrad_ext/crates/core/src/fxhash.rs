//! FxHash, the multiply-rotate hasher rustc uses for its own tables: a few instructions per
//! word where SipHash (std's default) spends tens. The hot path hashes a kernel AST per launch
//! and node addresses while scheduling; none of those keys come from an adversary, so SipHash's
//! flooding resistance buys nothing there.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// FxHash over a long word slice in four interleaved lanes, folded at the end: one lane is a
/// serial multiply chain (several cycles a word); four independent ones overlap, so a schedule
/// cache key of about 80 words hashes in a quarter of the time. Equal slices hash equal.
pub fn hash_words(words: &[u64]) -> u64 {
    let mut lanes = [FxHasher::default(); 4];
    let mut chunks = words.chunks_exact(4);
    for c in &mut chunks {
        for (lane, &w) in lanes.iter_mut().zip(c) {
            lane.add(w);
        }
    }
    let mut h = FxHasher::default();
    h.add(words.len() as u64);
    for lane in lanes {
        h.add(lane.hash);
    }
    for &w in chunks.remainder() {
        h.add(w);
    }
    h.hash
}

pub type FxBuildHasher = BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = HashMap<K, V, FxBuildHasher>;
pub type FxHashSet<K> = HashSet<K, FxBuildHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    fn fx<T: Hash>(t: &T) -> u64 {
        let mut h = FxHasher::default();
        t.hash(&mut h);
        h.finish()
    }

    #[test]
    fn equal_values_hash_equal_and_small_changes_move_the_hash() {
        assert_eq!(
            fx(&(1usize, vec![2u8, 3, 4])),
            fx(&(1usize, vec![2u8, 3, 4]))
        );
        assert_ne!(fx(&[1u64, 2]), fx(&[2u64, 1]));
        // the byte-slice tail is padded, not dropped
        assert_ne!(fx(&"abcdefghi"), fx(&"abcdefghj"));
    }

    #[test]
    fn word_hash_sees_every_word_its_position_and_the_length() {
        let base: Vec<u64> = (0..83).collect();
        let h = hash_words(&base);
        assert_eq!(h, hash_words(&base.clone()));
        for i in 0..base.len() {
            let mut v = base.clone();
            v[i] ^= 1 << (i % 64);
            assert_ne!(hash_words(&v), h, "word {i} is not hashed");
        }
        let mut swapped = base.clone();
        swapped.swap(0, 1);
        assert_ne!(hash_words(&swapped), h);
        assert_ne!(hash_words(&base[..82]), h);
        assert_ne!(hash_words(&[0, 0, 0, 0]), hash_words(&[0, 0, 0, 0, 0]));
    }
}
