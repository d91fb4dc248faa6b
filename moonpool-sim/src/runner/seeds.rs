//! Seed derivation: which seeds a test runs.

use crate::providers::random::{fnv1a, mix64};

/// The seed for run `index` of the test at `path`, from `base`.
///
/// Depends only on its inputs (no process state), so every CI run of a test
/// checks the same seeds, and different tests check different ones.
///
/// # Example
///
/// ```
/// use moonpool_sim::runner::derive_seed;
///
/// let a = derive_seed("my_crate::tests::transfer", 0, 3);
/// assert_eq!(a, derive_seed("my_crate::tests::transfer", 0, 3));
/// assert_ne!(a, derive_seed("my_crate::tests::transfer", 0, 4));
/// assert_ne!(a, derive_seed("my_crate::tests::other", 0, 3));
/// ```
pub fn derive_seed(path: &str, base: u64, index: u64) -> u64 {
    mix64(
        fnv1a(path.as_bytes())
            ^ mix64(base.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15))),
    )
}

/// A fresh base from the operating system, for `MOONPOOL_SEED_BASE=random`.
#[allow(clippy::disallowed_types)] // exploring new seeds is the point here
pub(crate) fn random_base() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::hash::RandomState::new().build_hasher();
    h.write_u64(0x5EED);
    mix64(h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_thousand_indices_give_a_thousand_seeds() {
        let seeds: BTreeSet<u64> = (0..1000).map(|i| derive_seed("t", 0, i)).collect();
        assert_eq!(seeds.len(), 1000);
    }

    #[test]
    fn the_base_moves_every_seed() {
        let a: BTreeSet<u64> = (0..100).map(|i| derive_seed("t", 0, i)).collect();
        let b: BTreeSet<u64> = (0..100).map(|i| derive_seed("t", 12345, i)).collect();
        assert!(a.is_disjoint(&b));
    }
}
