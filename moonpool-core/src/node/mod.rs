//! A node: hosts activations, owns a partition of the actor directory,
//! routes calls, and watches its peers.
//!
//! A node is five services, each owning its state and its locks, composed
//! by a small root (`root.rs`) and built in one phase (`builder.rs`: bind
//! the transport, which gives the node its id; build the services; open
//! the door to peers, `gate.rs`):
//!
//! ```text
//! root       NodeInner: the services + what takes several of them
//!  ├── router     locate → place; the location cache; one-way lanes
//!  ├── directory  this node's slice of the ring: registration, hand-off,
//!  │              membership refresh (refresh.rs), recovery (reports.rs)
//!  ├── host       the activation table, actor types, idle collector
//!  ├── reminders  the reminders of this node's slice of the ring
//!  │              (state: reminders.rs; its loop and a task per
//!  │              reminder: reminder_firing.rs; a node's API for them:
//!  │              reminder_api.rs)
//!  └── cluster    the membership table client: view, lease, failures
//! net            requests to peers, tagged with their service
//! ```
//!
//! An arrow points down only: the router asks the directory and the
//! cluster; the directory asks the cluster and the host; the host and the
//! cluster ask nobody. The reminder service's tasks call actors as any
//! caller does (through the router), and read the ring from the cluster. The actor layer reaches the node through
//! [`Runtime`](crate::actor) (`runtime.rs`); peers reach it through
//! `inbound.rs`.
//!
//! **Lock order.** Every lock is private to its service. Two locks are
//! held together in one way only: the cluster's view (`Cluster::with_view`),
//! then the directory's entries. No other lock (the host's activation
//! table, the router's cache and lanes, the directory's recovery record,
//! the cluster's failure record, the reminder service's slice) is ever
//! held while another is taken.

mod builder;
mod cluster;
mod config;
pub mod conformance;
mod directory;
mod gate;
mod handle;
mod host;
mod idle;
mod inbound;
mod lease;
mod membership;
mod net;
#[cfg(feature = "postgres")]
mod postgres_membership;
#[cfg(feature = "postgres")]
mod postgres_rows;
mod primary;
mod protocol;
mod recovery;
mod refresh;
mod reminder_api;
mod reminder_firing;
mod reminders;
mod reports;
mod ring;
mod root;
mod router;
mod runtime;
mod shared_storage;
mod view;
mod watch;

#[cfg(test)]
pub(crate) use protocol::{DirectoryRequest, DirectoryResponse, HostRequest, HostResponse};

pub use builder::{ActorRegistration, NodeBuilder};
pub use config::{NodeConfig, NodeError};
pub use handle::Node;
pub use membership::{InMemoryMembership, Member, MemberStatus, MembershipError, MembershipTable};
#[cfg(feature = "postgres")]
pub use postgres_membership::{PostgresMembership, VOTE_ATTEMPTS};
