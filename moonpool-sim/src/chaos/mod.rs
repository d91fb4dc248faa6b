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
mod macros;
mod site;
mod state;

pub use coverage::{CoverageReport, CoverageTally, SiteCoverage};
pub use faults::{FaultConfig, FaultPlan};
pub use site::{Site, SiteKind, SiteRef, sites};
pub(crate) use state::ChaosState;
pub use state::SiteCount;

use crate::sim::{FailureKind, try_with_current};

/// Unwinds a task whose assertion failed; the failure is already recorded.
struct AssertionAbort;

#[doc(hidden)]
#[inline]
pub fn __buggify(site: &'static Site, probability: f64) -> bool {
    try_with_current(|w| w.chaos.buggify(site, probability)).unwrap_or(false)
}

#[doc(hidden)]
#[inline]
pub fn __sometimes(site: &'static Site, cond: bool) {
    try_with_current(|w| w.chaos.count(site, cond));
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
        try_with_current(|w| w.chaos.count(site, true));
        return;
    }
    let detail = Some(detail()).filter(|d| !d.is_empty());
    let recorded = try_with_current(|w| {
        w.chaos.count(site, false);
        w.fail(FailureKind::AssertionFailed {
            site,
            detail: detail.clone(),
            task: w.current_task_name(),
        });
    })
    .is_some();
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
