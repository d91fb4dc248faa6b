//! # moonpool
//!
//! Deterministic simulation and Orleans-style virtual actors for async Rust.
//! This facade is the only crate a user depends on.
//!
//! - [`sim_test`]: write a test as an `async fn`; it runs as a deterministic
//!   simulation over many seeds, and a failure prints the one command that
//!   replays its seed.
//! - [`actor`] and [`actor_impl`]: a plain struct and its impl block become
//!   an actor with a typed reference; [`Node`] hosts actors and calls them
//!   ([`NodeBuilder`], [`InMemoryMembership`], [`InMemoryStorage`],
//!   [`DiskStorage`] to build one); [`reminder`] for durable schedules.
//! - [`SimCluster`]: nodes as simulated machines sharing in-simulation
//!   tables, killed, restarted, partitioned and isolated by name.
//! - [`Simulation`], [`SimContext`], [`SimConfig`], [`ClockConfig`],
//!   [`chaos`] ([`chaos::FaultConfig`], `buggify!`, `always!`,
//!   `sometimes!`): the simulator itself.
//! - [`sim`]: everything of the simulator and the providers (a re-export of
//!   the `moonpool-sim` crate); [`runtime`]: everything of the actor
//!   runtime (of `moonpool-core`): the transport, the directory, the
//!   backends.
//!
//! ```no_run
//! use moonpool::prelude::*;
//! use std::time::Duration;
//!
//! #[moonpool::sim_test(seeds = 200)]
//! async fn replies_arrive_in_time(sim: SimContext) {
//!     let p = sim.providers();
//!     let reply = p.spawn({
//!         let p = p.clone();
//!         async move {
//!             p.sleep(Duration::from_millis(p.random_below(50))).await;
//!             "pong"
//!         }
//!     });
//!     let got = p.timeout(Duration::from_millis(100), reply).await;
//!     assert_eq!(got, Ok(Ok("pong")));
//! }
//! ```

pub use moonpool_core as runtime;
// The cluster's state in PostgreSQL (feature `postgres`); its own module
// docs say the rest (a doc comment here would be merged into them).
#[cfg(feature = "postgres")]
pub use moonpool_core::postgres;
/// Durable reminders: the tick an actor's `on_reminder` hook receives,
/// the reminder tables, their errors.
///
/// An actor registers a reminder from its context and receives each due
/// time in its `on_reminder` hook; the node is given a table:
///
/// ```
/// use std::time::Duration;
/// use moonpool::prelude::*;
/// use moonpool::reminder::{InMemoryReminderTable, ReminderError};
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Loan {
///     charged: u32,
/// }
///
/// #[moonpool::actor_impl]
/// impl Loan {
///     /// Charges interest every second from one second on.
///     pub async fn open(&self, ctx: &ActorContext) -> Result<(), ReminderError> {
///         let second = Duration::from_secs(1);
///         ctx.register_reminder("interest", second, second).await?;
///         Ok(())
///     }
///
///     /// How many times interest was charged.
///     pub async fn charged(&self) -> u32 {
///         self.charged
///     }
///
///     async fn on_reminder(&mut self, _ctx: &ActorContext, tick: ReminderTick) {
///         if tick.name == "interest" {
///             self.charged += 1;
///         }
///     }
/// }
///
/// # fn main() {
/// moonpool::Simulation::new(7)
///     .run(|sim| async move {
///         let node = Node::builder("loans")
///             .listen("10.0.0.1:7000".parse().unwrap())
///             .providers(sim.providers())
///             .reminders(InMemoryReminderTable::new())
///             .host::<Loan>()
///             .build()
///             .await
///             .unwrap();
///         let loan = node.actor::<Loan>("loan-1");
///         loan.open().await.unwrap().unwrap();
///         sim.sleep(Duration::from_millis(3_500)).await;
///         assert_eq!(loan.charged().await.unwrap(), 3);
///     })
///     .unwrap();
/// # }
/// ```
pub use moonpool_core::reminder;
pub use moonpool_core::state::Persisted;
pub use moonpool_core::{
    ActivationError, Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message, Node,
};
pub use moonpool_core::{SimCluster, SimClusterBuilder, SimClusterError};
// What a node is built from, documented here as well as under `runtime`.
pub use moonpool_core::node::{InMemoryMembership, NodeBuilder, NodeError};
pub use moonpool_core::state::{DiskStorage, InMemoryStorage, StorageError};
pub use moonpool_macros::{actor, actor_impl, sim_test};
pub use moonpool_sim as sim;
pub use moonpool_sim::chaos;
pub use moonpool_sim::{
    ClockConfig, ClockReading, DiskConfig, NetConfig, SimConfig, SimFailure, SimReport,
};
pub use moonpool_sim::{
    Instant, JoinHandle, ProcessId, Providers, SimContext, Simulation, WallTime,
};
// Chaos macros: fault points and assertions (see `sim::chaos`). A doc
// comment here would be prepended to every macro's own summary.
// `unreachable!` is reachable as `moonpool::sim::unreachable!` only, so it
// never shadows `std`'s.
pub use moonpool_sim::{
    always, always_eq, always_ge, always_gt, always_le, always_lt, always_ne,
    always_or_unreachable, buggify, reachable, sometimes, sometimes_eq, sometimes_ge, sometimes_gt,
    sometimes_le, sometimes_lt, sometimes_ne,
};

/// The names most tests and actors need.
pub mod prelude {
    pub use crate::{actor, actor_impl, sim_test};
    pub use moonpool_core::reminder::{ReminderTick, TickStatus};
    pub use moonpool_core::state::Persisted;
    pub use moonpool_core::{
        ActivationError, Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message, Node,
        SimCluster,
    };
    pub use moonpool_sim::{Instant, JoinHandle, ProcessId, Providers, SimContext, WallTime};
    pub use moonpool_sim::{
        always, always_eq, always_ge, always_gt, always_le, always_lt, always_ne,
        always_or_unreachable, buggify, reachable, sometimes, sometimes_eq, sometimes_ge,
        sometimes_gt, sometimes_le, sometimes_lt, sometimes_ne,
    };
}

/// Paths used by generated code. Not public API: anything here may change in
/// any release.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
    pub use moonpool_core::actor::SharedHandler;
    pub use moonpool_core::actor::{
        ActivateOutcome, ActivationError, ActorDecl, ActorOptions, Placement, decode_message,
        dispatch, dispatch_shared, encode_reply, in_turn, unknown_method,
    };
    pub use moonpool_core::node::ActorRegistration;
    pub use moonpool_core::reminder::ReminderTick;
    pub use moonpool_core::state::Persisted;
    pub use moonpool_core::{Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message};
    pub use moonpool_sim::BoxFuture;
    pub use moonpool_sim::SimContext;
    pub use moonpool_sim::chaos::{FaultConfig, FaultPlan};
    pub use serde;

    /// Compile-time check that a handler argument or reply can cross the
    /// wire.
    pub fn assert_wire<T: WireType>() {}

    /// Types that can be a handler argument or reply.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot cross the wire as a handler argument or reply",
        label = "derive `serde::Serialize` and `serde::Deserialize` for it",
        note = "actor messages are serialized with postcard when the actor lives on another node"
    )]
    pub trait WireType {}
    impl<T: serde::Serialize + serde::de::DeserializeOwned> WireType for T {}
    pub use moonpool_sim::runner::{
        BodyFuture, CoverageMode, IntoTestResult, SimTestSpec, run_sim_test,
    };
    pub use std::time::Duration;
}

/// The README's Rust examples, compiled as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
