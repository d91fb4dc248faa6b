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
/// ```
/// use moonpool::prelude::*;
/// use moonpool::SimCluster;
/// use std::time::Duration;
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Echo;
///
/// #[moonpool::actor_impl]
/// impl Echo {
///     pub async fn echo(&self, text: String) -> String {
///         text
///     }
/// }
///
/// // Three nodes under the seed's faults; a call from a client through them.
/// #[moonpool::sim_test(seeds = 500, max_sim_time = "10m")]
/// async fn echoes_come_back(sim: SimContext) {
///     let cluster = SimCluster::builder(&sim, "echo").start().await.unwrap();
///     let client = cluster.add_client("client").await.unwrap();
///     let echo = client.actor::<Echo>("e");
///     loop {
///         match echo.echo("hi".to_string()).await {
///             Ok(reply) => break assert_eq!(reply, "hi"),
///             Err(e) if e.is_transient() => sim.sleep(Duration::from_millis(100)).await,
///             Err(e) => panic!("{e}"),
///         }
///     }
/// }
/// # fn main() {}
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
/// implement `Default`. Pair it with [`macro@actor_impl`] on the struct's
/// impl block.
///
/// ```
/// use moonpool::prelude::*;
///
/// /// A bank account: its balance is stored, the rest starts at `Default`.
/// #[moonpool::actor(state, placement = "prefer_local", idle_timeout = "10m")]
/// pub struct Account {
///     #[state]
///     balance: Persisted<u64>,
///     deposits_since_activation: u32,
/// }
///
/// #[moonpool::actor_impl]
/// impl Account {
///     pub async fn deposit(&mut self, amount: u64) -> Result<u64, String> {
///         *self.balance += amount;
///         self.balance.save().await.map_err(|e| e.to_string())?;
///         self.deposits_since_activation += 1;
///         Ok(*self.balance)
///     }
/// }
/// # fn main() {}
/// ```
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
/// ReminderTick)` receives the actor's reminder ticks. A handler may take
/// `ctx: &ActorContext` anywhere among its arguments; its arguments and
/// reply must be serde-serializable (they cross the wire when the actor
/// lives on another node).
///
/// ```
/// use moonpool::prelude::*;
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Counter {
///     n: u64,
/// }
///
/// #[moonpool::actor_impl]
/// impl Counter {
///     /// One turn at a time: `&mut self`.
///     pub async fn add(&mut self, by: u64) -> u64 {
///         self.n += by;
///         self.n
///     }
///
///     /// May run alongside other reentrant turns.
///     #[reentrant]
///     pub async fn get(&self) -> u64 {
///         self.n
///     }
///
///     /// The caller does not wait for it.
///     #[one_way]
///     pub async fn reset(&mut self) {
///         self.n = 0;
///     }
///
///     async fn on_activate(&mut self, ctx: &ActorContext) {
///         tracing::info!(actor = %ctx.id(), "activated");
///     }
/// }
///
/// # fn main() {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let node = Node::builder("docs").host::<Counter>().build().await.unwrap();
/// // The generated reference: one method per handler.
/// let counter: CounterRef = node.actor::<Counter>("c");
/// assert_eq!(counter.add(2).await.unwrap(), 2);
/// assert_eq!(counter.get().await.unwrap(), 2);
/// // Its futures own what they need: they can be spawned or returned
/// // from a closure.
/// let call = || node.actor::<Counter>("c").add(1);
/// assert_eq!(call().await.unwrap(), 3);
/// node.shutdown().await;
/// # });
/// # }
/// ```
#[proc_macro_attribute]
pub fn actor_impl(args: TokenStream, item: TokenStream) -> TokenStream {
    actor::actor_impl(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
