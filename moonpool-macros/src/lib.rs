//! Procedural macros for moonpool. Use them through the `moonpool` crate
//! (`moonpool::sim_test`); generated code names only `::moonpool::__private`
//! paths, so a user depends on `moonpool` alone.

use proc_macro::TokenStream;

mod actor;
mod errors;
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
///   families (default `"swarm"`: drawn from the seed); or a list of the
///   families that are on for every seed, the rest off, e.g.
///   `faults = ["connect_failures", "clogging", "clock_drift"]` (names:
///   `buggify`, `connect_failures`, `random_close`, `clogging`,
///   `clock_drift`, `clock_skew`, `half_open`, `bit_flips`, `disk_errors`);
/// - `log = "debug"`: which events a failing seed's replay keeps and its
///   report prints (a `tracing` filter; default `"info"`, `"off"` for
///   none); `MOONPOOL_LOG` overrides it;
/// - `log_lines = N`: how many of the replay's last events the report
///   prints (default 40); `MOONPOOL_LOG_LINES` overrides it.
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
/// explores fresh seeds, `MOONPOOL_THREADS=<n>` sets the parallelism,
/// `MOONPOOL_LOG`/`MOONPOOL_LOG_LINES` choose what a failure report shows
/// of the failing seed's events, and `MOONPOOL_LOG_FILE=<path>` writes all
/// of them to a file.
#[proc_macro_attribute]
pub fn sim_test(args: TokenStream, item: TokenStream) -> TokenStream {
    sim_test::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares an actor struct. Options: `name = "Wire"` (stable wire name,
/// default the struct's name), `placement = "random" | "prefer_local" |
/// "least_loaded" | "consistent_hash"`, `idle_timeout = "10m"`, `reentrant`
/// (every `&self` handler may run alongside others), and `state` (one field
/// marked `#[state]`, of type `Persisted<T>`, is loaded on activation; the
/// other fields start at their `Default`). Without `state` the struct must
/// implement `Default`.
#[proc_macro_attribute]
pub fn actor(args: TokenStream, item: TokenStream) -> TokenStream {
    actor::actor(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Turns the `pub async fn` methods of an `#[actor]` struct's impl block
/// into messages: generates one message type per method, a typed
/// `{Name}Ref` with one async method per handler, dispatch, and the
/// registration that makes every node host the type. `#[one_way]` marks a
/// handler whose reference method does not wait; `#[reentrant]` marks a
/// `&self` handler that runs alongside others. `async fn on_activate(&mut
/// self, ctx: &ActorContext)` and `on_deactivate` are lifecycle hooks;
/// `async fn on_reminder(&mut self, ctx: &ActorContext, tick:
/// ReminderTick)` receives the actor's reminder ticks.
#[proc_macro_attribute]
pub fn actor_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    actor::actor_impl(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
