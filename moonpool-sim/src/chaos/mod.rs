//! Chaos: `buggify!` fault points, `always!`/`sometimes!` assertions, their
//! link-time registry, per-seed coverage, and swarm fault configuration.
//!
//! Every site is a `static` registered with `inventory`, so after a test the
//! runner can list every site linked into the binary, including those no
//! seed reached. In a simulation, hits are counted per seed without locks;
//! outside one, `buggify!` is `false` and the assertions behave like
//! `debug_assert!`.

mod coverage;
mod faults;
pub(crate) mod hook;
mod macros;
mod site;
mod state;

pub use coverage::{CoverageReport, CoverageTally, SiteCoverage};
pub use faults::{FaultConfig, FaultPlan};
pub use site::{Site, SiteKind, SiteRef, sites};
pub(crate) use state::ChaosState;
pub use state::SiteCount;

/// Unwinds a task whose assertion failed; the failure is already recorded.
struct AssertionAbort;

#[doc(hidden)]
#[inline]
pub fn __buggify(site: &'static Site, probability: f64) -> bool {
    hook::with_state(|chaos| chaos.buggify(site, probability)).unwrap_or(false)
}

#[doc(hidden)]
#[inline]
pub fn __sometimes(site: &'static Site, cond: bool) {
    hook::with_state(|chaos| chaos.count(site, cond));
}

#[doc(hidden)]
#[inline]
pub fn __always(site: &'static Site, cond: bool, debug_assertions: bool) {
    __always_with(site, cond, debug_assertions, String::new);
}

#[doc(hidden)]
#[inline]
pub fn __always_with(
    site: &'static Site,
    cond: bool,
    debug_assertions: bool,
    detail: impl FnOnce() -> String,
) {
    if cond {
        hook::with_state(|chaos| chaos.count(site, true));
        return;
    }
    let detail = Some(detail()).filter(|d| !d.is_empty());
    hook::with_state(|chaos| chaos.count(site, false));
    let recorded = hook::fail(site, detail.clone());
    if recorded {
        // Stop the task now; the executor reports the recorded failure.
        std::panic::resume_unwind(Box::new(AssertionAbort));
    } else if debug_assertions {
        match detail {
            Some(d) => panic!("{site} failed: {d}"),
            None => panic!("{site} failed"),
        }
    }
}
