//! What nodes say to each other, inside transport requests.

use serde::{Deserialize, Serialize};

use super::membership::Member;
use crate::actor::{ActorId, CallError, CallRequest};
use crate::transport::NodeId;

/// A request between nodes, tagged with the service it is for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// A call to an actor: answered with a [`CallAnswer`](crate::actor::CallAnswer).
    Call(CallRequest),
    /// Anything else: answered with a [`NodeResponse`].
    Node(NodeRequest),
}

/// A [`Request`] borrowed, to encode without copying: serializes exactly
/// as the `Request` it stands for (same variants, same order).
#[derive(Serialize)]
pub(crate) enum RequestRef<'a> {
    Call(&'a CallRequest),
    Node(&'a NodeRequest),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum NodeRequest {
    /// Directory partition owner: where is `actor`? Register `candidate`
    /// if nowhere.
    Register { actor: ActorId, candidate: NodeId },
    /// Directory partition owner: where is `actor`, if anywhere?
    Lookup { actor: ActorId },
    /// Directory partition owner: forget `actor` if it is on `node`.
    Unregister { actor: ActorId, node: NodeId },
    /// Directory entries moving to their new owner.
    Handoff { entries: Vec<(ActorId, NodeId)> },
    /// A host's activations whose directory partitions the receiver owns
    /// in ring `ring` (directory recovery; `complete` on the last part).
    Report {
        host: NodeId,
        ring: Vec<NodeId>,
        actors: Vec<ActorId>,
        complete: bool,
    },
    /// Does this node host `actor`? (Directory recovery.)
    Hosts { actor: ActorId },
    /// Stop a duplicate activation (the directory kept another one).
    Deactivate { actor: ActorId },
    /// Liveness probe.
    Ping,
    /// An operation on the membership table hosted by this (primary) node.
    Membership(MembershipOp),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum MembershipOp {
    Join(Member),
    ReportLoad(NodeId, u64),
    DeclareDead(NodeId, NodeId),
    Leave(NodeId),
    Snapshot,
    Withdraw(NodeId, NodeId),
    BeginLeave(NodeId),
    /// Which node is the membership primary? (Answered with `Primary`.)
    Primary,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum NodeResponse {
    Reply(Vec<u8>),
    Failed(CallError),
    /// This node does not (or no longer) host the actor: re-route.
    NotHere,
    Location(Option<NodeId>),
    Members(Vec<Member>),
    /// The receiver does not own that directory partition (views differ):
    /// refresh membership and ask the right owner.
    WrongOwner,
    Done,
    /// The membership primary's address.
    Primary(std::net::SocketAddr),
    /// A membership operation failed (as the table, or the primary a
    /// forwarding node asked, said).
    MembershipFailed(super::membership::MembershipError),
}
