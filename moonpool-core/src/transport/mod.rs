//! The node-to-node transport: checksummed, size-limited frames; a
//! handshake that refuses other clusters and protocol versions; one
//! connection per node pair; request/response correlation with per-call
//! timeouts; reconnection with exponential backoff and jitter.
//!
//! Bad input never takes a node down: a garbage, oversize or corrupted
//! frame closes that one connection with a logged error. Connections that
//! have not handshaken get small frames, a deadline and a bounded number
//! of places to wait (see `handshake.rs`).

mod config;
mod conn;
mod endpoint;
mod error;
pub mod frame;
mod handshake;
mod inbound;
mod outbox;
mod payload;
mod rivals;
mod wire;

pub use config::TransportConfig;
pub use endpoint::Transport;
pub use error::TransportError;
pub use handshake::MAX_CLUSTER_ID_BYTES;
pub use inbound::{Inbound, Responder};
pub use payload::{Outgoing, Payload};
pub use wire::{NodeId, PROTOCOL_VERSION};
