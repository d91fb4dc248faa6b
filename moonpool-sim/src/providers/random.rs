//! Randomness: the [`RandomProvider`] trait and the seeded generator the
//! simulator draws from.
//!
//! Sampling (ranges, probabilities) is implemented here rather than taken from
//! the `rand` crate: `rand` is free to change its sampling algorithms between
//! versions, which would silently change what a recorded seed replays. Our
//! algorithms are part of the seed contract and change only deliberately.

use rand_core::Rng as _;
use rand_pcg::Pcg64;

/// A source of random numbers, as the runtime sees it.
///
/// The tokio implementation is seeded from the operating system; the simulated
/// one draws from the simulation's *user* RNG stream, so every draw is a
/// function of the seed. Build samplers on top of [`RandomProvider::next_u64`]
/// with the helpers in [`Providers`](crate::Providers).
///
/// # Example
///
/// ```
/// use moonpool_sim::{DeterministicRng, RandomProvider};
/// use std::sync::Mutex;
///
/// struct Fixed(Mutex<DeterministicRng>);
/// impl RandomProvider for Fixed {
///     fn next_u64(&self) -> u64 {
///         self.0.lock().map(|mut r| r.next_u64()).unwrap_or(0)
///     }
/// }
/// let a = Fixed(Mutex::new(DeterministicRng::new(7, 0))).next_u64();
/// let b = Fixed(Mutex::new(DeterministicRng::new(7, 0))).next_u64();
/// assert_eq!(a, b);
/// ```
pub trait RandomProvider: Send + Sync + 'static {
    /// Returns 64 uniformly random bits.
    fn next_u64(&self) -> u64;
}

/// A seeded PCG-64 generator with the sampling helpers moonpool uses.
///
/// `stream` selects one of 2^127 independent sequences for the same seed: the
/// simulator gives scheduling, faults and user draws separate streams, so a
/// new draw in one place never reshuffles the others.
///
/// # Example
///
/// ```
/// use moonpool_sim::DeterministicRng;
///
/// let mut rng = DeterministicRng::new(42, 1);
/// let roll = rng.below(6);
/// assert!(roll < 6);
/// assert_eq!(DeterministicRng::new(42, 1).below(6), roll);
/// ```
#[derive(Clone, Debug)]
pub struct DeterministicRng {
    inner: Pcg64,
}

impl DeterministicRng {
    /// Creates a generator for `seed` on the independent sequence `stream`.
    pub fn new(seed: u64, stream: u64) -> Self {
        // Spread the 64-bit seed over the 128-bit state so that nearby seeds
        // start far apart.
        let hi = u128::from(mix64(seed ^ 0x9E37_79B9_7F4A_7C15));
        let lo = u128::from(mix64(seed.wrapping_add(0xD1B5_4A32_D192_ED03)));
        Self {
            inner: Pcg64::new((hi << 64) | lo, u128::from(stream)),
        }
    }

    /// Returns 64 uniformly random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Returns a uniform integer in `0..n`; returns 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        below_with(n, || self.inner.next_u64())
    }

    /// Returns a uniform float in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        unit_f64(self.inner.next_u64())
    }

    /// Returns `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        chance_from(p, self.inner.next_u64())
    }
}

/// Uniform integer in `0..n` by Lemire's widening-multiply rejection method.
pub(crate) fn below_with(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(next()) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Maps 64 random bits to a float in `[0, 1)` using the top 53 bits.
pub(crate) fn unit_f64(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `true` with probability `p`, from one 64-bit draw.
pub(crate) fn chance_from(p: f64, bits: u64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        unit_f64(bits) < p
    }
}

/// SplitMix64's finaliser: a fast, well-distributed 64-bit mix. Stable
/// across versions and platforms (the simulator's seeds, and the runtime's
/// hash ring, depend on it).
///
/// ```
/// use moonpool_sim::mix64;
/// assert_eq!(mix64(1), mix64(1));
/// assert_ne!(mix64(1), mix64(2));
/// ```
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over bytes: a stable (version- and platform-independent) hash
/// of a string, unlike `std`'s hashers.
///
/// ```
/// use moonpool_sim::fnv1a;
/// assert_eq!(fnv1a(b""), 0xCBF2_9CE4_8422_2325);
/// assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
/// ```
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_and_stream_repeat() {
        let mut a = DeterministicRng::new(9, 3);
        let mut b = DeterministicRng::new(9, 3);
        let xs: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
    }

    #[test]
    fn streams_are_independent() {
        let mut a = DeterministicRng::new(9, 1);
        let mut b = DeterministicRng::new(9, 2);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_ne!(xs, ys);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = DeterministicRng::new(1, 0);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            let v = rng.below(7);
            assert!(v < 7);
            seen[v as usize] += 1;
        }
        // Each bucket expects 1000; a fair sampler stays well inside 800..1200.
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
        assert_eq!(rng.below(0), 0);
        assert_eq!(rng.below(1), 0);
    }

    #[test]
    fn chance_respects_extremes_and_rate() {
        let mut rng = DeterministicRng::new(5, 0);
        assert!((0..100).all(|_| !rng.chance(0.0)));
        assert!((0..100).all(|_| rng.chance(1.0)));
        assert!((0..100).all(|_| !rng.chance(f64::NAN)));
        let hits = (0..10_000).filter(|_| rng.chance(0.25)).count();
        assert!((2_200..2_800).contains(&hits), "{hits}");
    }

    #[test]
    fn unit_float_is_half_open() {
        assert_eq!(unit_f64(0), 0.0);
        assert!(unit_f64(u64::MAX) < 1.0);
    }
}
