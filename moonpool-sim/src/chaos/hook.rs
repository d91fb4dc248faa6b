//! The one way chaos reaches a running simulation: a hook the simulator
//! installs when it first builds a world. Chaos never names the
//! simulator's types; outside a simulation (no hook, or no simulation on
//! this thread) every `buggify!` is off and nothing is counted.

use std::sync::OnceLock;

use super::site::Site;
use super::state::ChaosState;

/// A callback on the chaos state of the running simulation.
pub(crate) type StateFn<'a> = &'a mut dyn FnMut(&ChaosState);

/// What the simulator offers chaos.
pub(crate) struct Hook {
    /// Runs the callback on the chaos state of the simulation running on
    /// this thread; `false` (not run) outside one.
    pub(crate) with_state: fn(StateFn<'_>) -> bool,
    /// Records that the assertion at `site` failed (with its detail) in the
    /// simulation running on this thread; `false` outside one.
    pub(crate) fail: fn(&'static Site, Option<String>) -> bool,
}

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the simulator's hook (once per process; later calls keep the
/// first, which is the same).
pub(crate) fn install(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// `f` on the running simulation's chaos state, if one runs on this
/// thread.
#[inline]
pub(super) fn with_state<R>(f: impl FnOnce(&ChaosState) -> R) -> Option<R> {
    let hook = HOOK.get()?;
    let mut f = Some(f);
    let mut out = None;
    (hook.with_state)(&mut |state| {
        if let Some(f) = f.take() {
            out = Some(f(state));
        }
    });
    out
}

/// Records a failed assertion in the running simulation; whether one runs.
pub(super) fn fail(site: &'static Site, detail: Option<String>) -> bool {
    HOOK.get().is_some_and(|hook| (hook.fail)(site, detail))
}
