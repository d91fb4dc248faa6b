//! A node's settings, and why a node could not start.

use std::net::SocketAddr;
use std::time::Duration;

use super::membership::MembershipError;
use crate::transport::TransportError;

/// A node's settings.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The cluster this node belongs to; strangers are refused.
    pub cluster_id: String,
    /// Where it listens; `None`: the network provider's default address
    /// ([`NetworkProvider::default_ip`](moonpool_sim::NetworkProvider::default_ip):
    /// loopback on tokio, the simulated process's address in a simulation)
    /// on any free port.
    pub listen: Option<SocketAddr>,
    /// Time limit of one actor call, routing included.
    pub call_timeout: Duration,
    /// How often peers are probed (and membership re-read).
    pub probe_interval: Duration,
    /// How long a probe may take.
    pub probe_timeout: Duration,
    /// Missed probes in a row before a peer is declared dead.
    pub missed_probes: u32,
    /// Whether calls and activations are recorded through the `metrics`
    /// facade (see [`crate::metrics`]).
    pub metrics: bool,
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The listener could not be opened.
    #[error("cannot start the transport: {0}")]
    Transport(#[from] TransportError),
    /// No providers were given and there is no tokio runtime.
    #[error("no providers given and none available: {0}")]
    Providers(#[from] moonpool_sim::ProviderError),
    /// The membership table refused the join.
    #[error("cannot join the cluster: {0}")]
    Membership(#[from] MembershipError),
    /// Two hosted actor types share a name.
    #[error("actor type `{0}` is registered twice")]
    DuplicateType(&'static str),
    /// The node's state storage cannot be read.
    #[error("cannot use the node's state storage: {0}")]
    Storage(crate::state::StorageError),
    /// The node's state storage is not the one the cluster's hosts share:
    /// actors' state would fork between the two.
    #[error(
        "this node's state storage is not the cluster's: node {node} uses store {theirs:016x}, this node store {ours:016x}; the nodes of a cluster must share one store (the same storage service or database), or actors' state would fork"
    )]
    ForeignStorage {
        /// A node of the cluster using the other store.
        node: SocketAddr,
        /// That store's identity.
        theirs: u64,
        /// This node's store's identity.
        ours: u64,
    },
}
