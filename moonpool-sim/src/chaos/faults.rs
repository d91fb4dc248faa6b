//! Swarm testing: each seed switches whole fault families on or off, so some
//! seeds are calm and some are brutal.

use std::fmt;

use crate::providers::random::DeterministicRng;

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
    /// Connects are sometimes refused.
    pub connect_failures: bool,
    /// Connections are sometimes reset mid-stream.
    pub random_close: bool,
    /// Links sometimes clog: their traffic waits in a burst of delay.
    pub clogging: bool,
    /// Timers fire late by a random drift.
    pub clock_drift: bool,
    /// Each simulated process's clock runs at its own rate and its wall
    /// clock is off by its own amount, stepping now and then, within the
    /// bounds of [`ClockConfig`](crate::ClockConfig). Off: every process
    /// reads true time.
    pub clock_skew: bool,
    /// A killed process's peers are sometimes not told (half-open
    /// connections).
    pub half_open: bool,
    /// Delivered bytes sometimes have a bit flipped. Never drawn by the
    /// swarm and not part of [`FaultConfig::brutal`]: turn it on to test
    /// that framing detects corruption.
    pub bit_flips: bool,
    /// Disk reads, writes and syncs sometimes fail with an I/O error.
    pub disk_errors: bool,
}

impl FaultConfig {
    /// No faults at all.
    pub const fn calm() -> Self {
        Self {
            buggify: false,
            buggify_sites_percent: 0,
            connect_failures: false,
            random_close: false,
            clogging: false,
            clock_drift: false,
            clock_skew: false,
            half_open: false,
            bit_flips: false,
            disk_errors: false,
        }
    }

    /// Every family on (except bit flips), every buggify site on.
    pub const fn brutal() -> Self {
        Self {
            buggify: true,
            buggify_sites_percent: 100,
            connect_failures: true,
            random_close: true,
            clogging: true,
            clock_drift: true,
            clock_skew: true,
            half_open: true,
            bit_flips: false,
            disk_errors: true,
        }
    }

    /// The swarm draw for `seed`: each family on or off, buggify at a drawn
    /// intensity. About one seed in twenty is entirely calm.
    pub fn swarm(seed: u64) -> Self {
        let mut rng = DeterministicRng::new(seed, STREAM_SWARM);
        if rng.chance(0.05) {
            return Self::calm();
        }
        let buggify = rng.chance(0.6);
        let buggify_sites_percent = [10, 25, 50, 100][rng.below(4) as usize];
        Self {
            buggify,
            buggify_sites_percent: if buggify { buggify_sites_percent } else { 0 },
            connect_failures: rng.chance(0.5),
            random_close: rng.chance(0.5),
            clogging: rng.chance(0.5),
            clock_drift: rng.chance(0.5),
            half_open: rng.chance(0.5),
            bit_flips: false,
            disk_errors: rng.chance(0.5),
            // Drawn last: the families above keep their draws.
            clock_skew: rng.chance(0.5),
        }
    }

    /// Whether no family is on.
    pub fn is_calm(&self) -> bool {
        *self == Self::calm()
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
    /// `calm`, or the families that are on, e.g.
    /// `buggify (25% of sites), random close, disk errors`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut on = Vec::new();
        if self.buggify {
            on.push(format!(
                "buggify ({}% of sites)",
                self.buggify_sites_percent
            ));
        }
        for (flag, name) in [
            (self.connect_failures, "connect failures"),
            (self.random_close, "random close"),
            (self.clogging, "clogging"),
            (self.clock_drift, "clock drift"),
            (self.clock_skew, "clock skew"),
            (self.half_open, "half-open connections"),
            (self.bit_flips, "bit flips"),
            (self.disk_errors, "disk errors"),
        ] {
            if flag {
                on.push(name.to_string());
            }
        }
        if on.is_empty() {
            write!(f, "calm")
        } else {
            write!(f, "{}", on.join(", "))
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
