//! The simulated network: connections between processes as pairs of
//! one-way pipes whose bytes travel as timed events, with partitions,
//! clogging, resets, half-open connections and bit flips.
//!
//! All state lives in [`NetState`] inside the world; streams and listeners
//! hold only ids. Wakers are collected while the state is borrowed and woken
//! after, so a woken task can never find the state busy.

pub(crate) mod config;
mod events;
mod pipe;
pub(crate) mod state;
pub(crate) mod stream;

pub use config::NetConfig;
pub(crate) use events::{handle_event, with_net};
pub(crate) use state::process_ip;
