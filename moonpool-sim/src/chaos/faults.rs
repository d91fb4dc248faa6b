//! Swarm testing: each seed switches whole fault families on or off, so some
//! seeds are calm and some are brutal.

use std::fmt;

use crate::random::DeterministicRng;

/// RNG stream for the swarm draw, apart from scheduling, faults and user
/// draws.
const STREAM_SWARM: u64 = 0x5A43_2A11;

/// The faults one seed may inject.
///
/// # Example
///
/// ```
/// use moonpool_sim::chaos::FaultConfig;
///
/// let calm = FaultConfig::calm();
/// assert!(!calm.buggify);
/// // The swarm draw is a function of the seed.
/// assert_eq!(FaultConfig::swarm(7), FaultConfig::swarm(7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FaultConfig {
    /// Whether `buggify!` sites may fire at all in this seed.
    pub buggify: bool,
    /// The share of `buggify!` sites switched on for this seed, in percent.
    /// A site that is on fires with its own probability each time it is
    /// evaluated.
    pub buggify_sites_percent: u8,
}

impl FaultConfig {
    /// No faults at all.
    pub const fn calm() -> Self {
        Self {
            buggify: false,
            buggify_sites_percent: 0,
        }
    }

    /// Every family on, every buggify site on.
    pub const fn brutal() -> Self {
        Self {
            buggify: true,
            buggify_sites_percent: 100,
        }
    }

    /// The swarm draw for `seed`: each family on or off, at a drawn
    /// intensity.
    pub fn swarm(seed: u64) -> Self {
        let mut rng = DeterministicRng::new(seed, STREAM_SWARM);
        let buggify = rng.chance(0.6);
        let buggify_sites_percent = [10, 25, 50, 100][rng.below(4) as usize];
        Self {
            buggify,
            buggify_sites_percent: if buggify { buggify_sites_percent } else { 0 },
        }
    }
}

impl Default for FaultConfig {
    /// The default is [`FaultConfig::calm`]: faults are opted into (the
    /// simulation's default [`FaultPlan`] is the swarm).
    fn default() -> Self {
        Self::calm()
    }
}

impl fmt::Display for FaultConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.buggify {
            write!(f, "buggify on ({}% of sites)", self.buggify_sites_percent)
        } else {
            write!(f, "buggify off")
        }
    }
}

/// How a simulation picks its [`FaultConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FaultPlan {
    /// Draw it from the seed ([`FaultConfig::swarm`]). The default.
    #[default]
    Swarm,
    /// Use this configuration for every seed.
    Fixed(FaultConfig),
}

impl FaultPlan {
    /// The configuration for `seed`.
    pub fn for_seed(self, seed: u64) -> FaultConfig {
        match self {
            FaultPlan::Swarm => FaultConfig::swarm(seed),
            FaultPlan::Fixed(config) => config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swarm_mixes_calm_and_brutal_seeds() {
        let configs: Vec<FaultConfig> = (0..1_000).map(FaultConfig::swarm).collect();
        let on = configs.iter().filter(|c| c.buggify).count();
        assert!((500..700).contains(&on), "{on}");
        for pct in [10, 25, 50, 100] {
            assert!(configs.iter().any(|c| c.buggify_sites_percent == pct));
        }
        assert!(
            configs
                .iter()
                .all(|c| c.buggify || c.buggify_sites_percent == 0)
        );
    }
}
