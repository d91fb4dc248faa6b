//! Per-simulation chaos state: hit counters per site, the seed's buggify
//! decisions, and the fault RNG stream. Lives in the simulation's world, so
//! counting needs no lock: each seed runs on its own thread.

use std::cell::RefCell;

use super::faults::FaultConfig;
use super::site::{Site, sites};
use crate::providers::random::{DeterministicRng, mix64, unit_f64};

/// RNG stream for fault decisions (buggify firing, and the simulated
/// network and disk faults).
pub(crate) const STREAM_FAULT: u64 = 0xFA17_5EED;

/// How often one site was evaluated in one seed, and how often it held (for
/// assertions) or fired (for buggify).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteCount {
    /// Times the site was evaluated.
    pub evaluated: u64,
    /// Times its condition held (assertions) or it fired (buggify).
    pub satisfied: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Switch {
    Undecided,
    Off,
    On,
}

pub(crate) struct ChaosState {
    seed: u64,
    pub(crate) faults: FaultConfig,
    counts: RefCell<Vec<SiteCount>>,
    switches: RefCell<Vec<Switch>>,
    pub(crate) rng: RefCell<DeterministicRng>,
}

impl ChaosState {
    pub(crate) fn new(seed: u64, faults: FaultConfig) -> Self {
        let n = sites().len();
        Self {
            seed,
            faults,
            counts: RefCell::new(vec![SiteCount::default(); n]),
            switches: RefCell::new(vec![Switch::Undecided; n]),
            rng: RefCell::new(DeterministicRng::new(seed, STREAM_FAULT)),
        }
    }

    /// Counts one evaluation of `site`.
    pub(crate) fn count(&self, site: &'static Site, satisfied: bool) {
        if let Some(i) = site.index()
            && let Some(c) = self.counts.borrow_mut().get_mut(i)
        {
            c.evaluated += 1;
            c.satisfied += u64::from(satisfied);
        }
    }

    /// Whether a buggify site fires now: the family must be on, the site
    /// switched on for this seed (decided from the seed and the site's
    /// location, so independent of evaluation order), and the draw from the
    /// fault stream must fall under `probability`.
    pub(crate) fn buggify(&self, site: &'static Site, probability: f64) -> bool {
        let fired =
            self.faults.buggify && self.site_on(site) && self.rng.borrow_mut().chance(probability);
        self.count(site, fired);
        fired
    }

    fn site_on(&self, site: &'static Site) -> bool {
        let Some(i) = site.index() else { return false };
        let mut switches = self.switches.borrow_mut();
        let Some(switch) = switches.get_mut(i) else {
            return false;
        };
        if *switch == Switch::Undecided {
            let draw = unit_f64(mix64(self.seed ^ site.identity()));
            let on = draw * 100.0 < f64::from(self.faults.buggify_sites_percent);
            *switch = if on { Switch::On } else { Switch::Off };
        }
        *switch == Switch::On
    }

    /// The seed's counts, aligned with [`sites()`].
    pub(crate) fn counts(&self) -> Vec<SiteCount> {
        self.counts.borrow().clone()
    }
}
