//! The story of a seed: `tracing` events stamped with simulated time,
//! process and task, kept while a simulation runs.
//!
//! When a seed fails, the runner behind `#[sim_test]` replays it (to check
//! that it reproduces) with [`capture`] around the replay: the events the
//! runtime and the test logged are kept — the last
//! [`LogConfig::lines`] in memory, every one in a file if asked — and the
//! failure report prints them. Passing seeds run with no subscriber at all,
//! so logging costs them nothing, and output stays quiet. Logging never
//! touches the simulation (no draw, no poll, no timer), so the replay keeps
//! its trace hash: the report says so on every failure.
//!
//! A line reads
//!
//! ```text
//!     2.104311s node-2 [transport-accept]  INFO moonpool_core::node::cluster: node joined peer=10.0.0.3:7000 in node{addr=10.0.0.2:7000}
//! ```
//!
//! — simulated time, process, task, level, target, message, fields, then
//! the spans it happened in, outermost first.
//!
//! Settings (the runner reads them from the environment, see
//! [`crate::runner`]): `MOONPOOL_LOG` (a `tracing` filter, default `info`;
//! `off` keeps nothing), `MOONPOOL_LOG_LINES` (how many of the last events
//! the report prints, default 40), `MOONPOOL_LOG_FILE` (a path: every
//! event of the replay is written there).
//!
//! Outside the runner, [`capture`] works around any run of a
//! [`Simulation`](crate::Simulation); and [`SimTime`] makes a user's own
//! `tracing-subscriber` formatter stamp lines with simulated time and the
//! process name instead of wall time.

mod capture;
mod layer;
mod sink;
mod stamp;
mod timer;

pub use capture::{CapturedLog, DEFAULT_LOG_LINES, LogConfig, LogError, capture};
pub use timer::SimTime;
