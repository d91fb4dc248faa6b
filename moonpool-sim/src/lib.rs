//! # moonpool-sim
//!
//! Deterministic simulation for async distributed systems, in the
//! FoundationDB tradition: one thread, logical time, and one seed that
//! decides every choice, so a failing run replays exactly.
//!
//! Runtime code talks to the world only through [`Providers`] (time, tasks,
//! randomness). [`Providers::tokio`] gives the production set; a
//! [`Simulation`] gives a simulated set whose scheduler picks among ready
//! tasks with a seeded RNG and whose clock jumps straight to the next timer.
//!
//! - [`Simulation`] runs one seed and returns a [`SimReport`] (with the
//!   event-trace hash) or a [`SimFailure`] (panic, deadlock, livelock).
//! - [`runner`] runs many seeds in parallel: the engine behind
//!   `#[moonpool::sim_test]`.
//!
//! ```
//! use moonpool_sim::Simulation;
//! use std::time::Duration;
//!
//! let report = Simulation::new(42)
//!     .faults(moonpool_sim::chaos::FaultConfig::calm()) // exact timers
//!     .run(|sim| async move {
//!         let (tx, mut rx) = tokio::sync::mpsc::channel(8);
//!         for i in 0..4u64 {
//!             let tx = tx.clone();
//!             let p = sim.providers();
//!             sim.spawn(async move {
//!                 p.sleep(Duration::from_millis(p.random_below(100))).await;
//!                 tx.send(i).await.ok();
//!             });
//!         }
//!         drop(tx);
//!         let mut got = Vec::new();
//!         while let Some(i) = rx.recv().await {
//!             got.push(i);
//!         }
//!         got.len()
//!     })
//!     .unwrap();
//! assert_eq!(report.output, 4);
//! assert!(report.sim_time.since_epoch() < Duration::from_millis(100));
//! ```
//!
//! ## Determinism rules
//!
//! Code under simulation must not read the wall clock, spawn threads or
//! tokio tasks directly, use OS-seeded randomness (`RandomState`,
//! `thread_rng`), let `HashMap` iteration order decide behaviour, or use
//! `tokio::select!` without `biased;`. The workspace's `clippy.toml` bans the
//! calls it can see. Channels and locks from `tokio::sync` are fine: they are
//! runtime-agnostic and wake through the simulator.

pub mod chaos;
/// The byte-stream traits a [`NetStream`] implements, with their
/// `read_exact`/`write_all` extension methods (tokio's, re-exported so
/// that reading and writing a stream needs no other dependency).
pub mod io {
    pub use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
}
pub mod log;
mod providers;
pub mod runner;
mod sim;

pub use providers::{
    AsyncStream, BoxFuture, DeterministicRng, Elapsed, Instant, JoinError, JoinHandle, NetListener,
    NetReadHalf, NetStream, NetWriteHalf, NetworkProvider, OpenMode, ProviderError, Providers,
    RandomProvider, SpawnSpec, StorageFile, StorageLock, StorageProvider, TaskProvider,
    TimeProvider, Timeout, WallTime, YieldNow, fnv1a, mix64, yield_now,
};
pub use sim::{
    ClockConfig, ClockReading, DiskConfig, FailureKind, Livelock, NetConfig, ProcessId, SimConfig,
    SimContext, SimError, SimFailure, SimReport, Simulation, TaskInfo,
};

#[doc(hidden)]
pub use inventory as __inventory;
