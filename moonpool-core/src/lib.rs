//! # moonpool-core
//!
//! moonpool's virtual actor runtime, written against
//! [`moonpool_sim::Providers`] only, so that it runs unchanged on tokio and
//! inside the simulator.
//!
//! - [`transport`]: node-to-node messaging (framing, handshake, one
//!   connection per node pair, request/response correlation, reconnection).
//! - [`actor`]: actor identities, the traits an actor type implements, typed
//!   references.
//! - [`node`]: a node hosting activations, its share of the directory,
//!   membership and failure detection.
//! - [`state`]: persisted actor state with optimistic concurrency, in
//!   memory or on disk (crash-tested through the storage provider).
//! - [`reminder`]: durable reminders: the reminder table and its
//!   backends, and what an actor's reminder hook receives.
//! - [`sim_cluster`]: [`SimCluster`], a cluster of nodes in a simulation,
//!   each its own simulated machine, controlled by node name.

pub mod actor;
mod id;
pub mod metrics;
pub mod node;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod reminder;
#[cfg(test)]
mod service_tests;
pub mod sim_cluster;
mod spawn;
pub mod state;
mod sync;
pub mod transport;
mod type_names;

pub use actor::{
    ActivationError, Actor, ActorContext, ActorId, ActorRef, CallError, Handler, Message,
};
pub use moonpool_sim::WallTime;
pub use node::Node;
pub use sim_cluster::{SimCluster, SimClusterBuilder, SimClusterError};
