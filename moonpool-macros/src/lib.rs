//! Procedural macros for moonpool. Use them through the `moonpool` crate
//! (`moonpool::sim_test`); generated code names only `::moonpool::__private`
//! paths, so a user depends on `moonpool` alone.

use proc_macro::TokenStream;

mod sim_test;

/// Turns an `async fn` into a test that runs its body as a deterministic
/// simulation over many seeds.
///
/// The function may take one argument, the run's
/// `moonpool::SimContext`, and return `()` or `Result<(), E: Debug>`.
///
/// Options (all optional):
/// - `seeds = N`: how many seeds to run (default 100);
/// - `max_sim_time = "10m"`: the simulated-time budget per seed, past which
///   the run is a livelock (units `ms`, `s`, `m`, `h`; default one hour);
/// - `max_polls_per_instant = N`: task polls without time moving before the
///   run is a livelock (default one million);
/// - `invariant_every = N`: check the invariants registered with
///   `SimContext::invariant` every `N` task polls (default 1);
/// - `coverage = "strict"`: fail the test when a `sometimes!`/`reachable!`
///   site never held or an `always!` site was never reached (default
///   `"report"`: list them);
/// - `coverage_of = ["crate::module", ...]`: the module paths whose chaos
///   sites the test answers for (default: the test's crate and its
///   package's library);
/// - `faults = "swarm" | "calm" | "brutal"`: how each seed picks its fault
///   families (default `"swarm"`: drawn from the seed).
///
/// ```ignore
/// #[moonpool::sim_test(seeds = 500)]
/// async fn timers_fire_in_order(sim: moonpool::SimContext) {
///     let a = sim.spawn(/* … */);
/// }
/// ```
///
/// The environment steers a run: `MOONPOOL_SEED=<seed>` replays exactly one
/// seed, `MOONPOOL_SEEDS=<n>` changes the count, `MOONPOOL_SEED_BASE=random`
/// explores fresh seeds, `MOONPOOL_THREADS=<n>` sets the parallelism.
#[proc_macro_attribute]
pub fn sim_test(args: TokenStream, item: TokenStream) -> TokenStream {
    sim_test::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
