//! # moonpool-core
//!
//! moonpool's virtual actor runtime, written against
//! [`moonpool_sim::Providers`] only, so that it runs unchanged on tokio and
//! inside the simulator.
//!
//! Built so far: [`transport`], the node-to-node messaging layer (framing,
//! handshake, one connection per node pair, request/response correlation,
//! reconnection with backoff).

pub mod transport;
