//! What nodes say to each other: one request type per service, tagged on
//! the wire with the service it is for ([`Request`]), each answered with
//! that service's response type. A call's message follows its request
//! raw, so it is encoded once, by its caller.

use std::net::SocketAddr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::membership::{Member, MembershipError};
use crate::actor::{ActorId, CallError, CallHead, CallHeadRef};
use crate::transport::NodeId;

/// A request between nodes, tagged with the service it is for.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// A call to an actor: answered with a [`CallAnswer`](crate::actor::CallAnswer).
    /// The message follows the request on the wire, as its caller
    /// encoded it.
    Call(CallHead),
    /// To the directory service: answered with a [`DirectoryResponse`].
    Directory(DirectoryRequest),
    /// To the host service: answered with a [`HostResponse`].
    Host(HostRequest),
    /// To the cluster service: answered with a [`ClusterResponse`].
    Cluster(ClusterRequest),
    /// To the reminder service: answered with a [`ReminderResponse`].
    Reminders(ReminderRequest),
}

/// A [`Request`] borrowed, to encode without copying: serializes exactly
/// as the `Request` it stands for (same variants, same order).
#[derive(Serialize)]
pub(crate) enum RequestRef<'a> {
    Call(CallHeadRef<'a>),
    Directory(&'a DirectoryRequest),
    Host(&'a HostRequest),
    Cluster(&'a ClusterRequest),
    Reminders(&'a ReminderRequest),
}

/// A service's request: how it is tagged on the wire, and what answers it.
pub(crate) trait ServiceRequest {
    /// The service's response.
    type Response: DeserializeOwned;
    /// This request, tagged with its service.
    fn tagged(&self) -> RequestRef<'_>;
}

/// To the owner of a directory partition.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DirectoryRequest {
    /// Where is `actor`? Register `candidate` if nowhere.
    Register { actor: ActorId, candidate: NodeId },
    /// Where is `actor`, if anywhere?
    Lookup { actor: ActorId },
    /// Forget `actor` if it is on `node`.
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
}

/// The directory's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum DirectoryResponse {
    /// Where the actor lives (`None`: nowhere; for a registration, the
    /// candidate was refused: place it elsewhere).
    Location(Option<NodeId>),
    /// The receiver does not own that partition (views differ): refresh
    /// membership and ask the right owner.
    WrongOwner,
    /// Done.
    Done,
    /// Refused or failed (a dead caller; a registration that could not be
    /// decided).
    Failed(CallError),
}

impl ServiceRequest for DirectoryRequest {
    type Response = DirectoryResponse;
    fn tagged(&self) -> RequestRef<'_> {
        RequestRef::Directory(self)
    }
}

/// To a host.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HostRequest {
    /// Does this node host `actor`? (Directory recovery.)
    Hosts { actor: ActorId },
    /// Stop a duplicate activation (the directory kept another one).
    Deactivate { actor: ActorId },
}

/// The host's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum HostResponse {
    /// The host's own id if it hosts the actor.
    Hosts(Option<NodeId>),
    /// Done.
    Done,
    /// Refused (the caller was declared dead).
    Refused(CallError),
}

impl ServiceRequest for HostRequest {
    type Response = HostResponse;
    fn tagged(&self) -> RequestRef<'_> {
        RequestRef::Host(self)
    }
}

/// To a node's cluster service.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ClusterRequest {
    /// Liveness probe.
    Ping,
    /// An operation on the membership table this node hosts (or forwards
    /// to the primary).
    Membership(MembershipOp),
}

/// The cluster service's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ClusterResponse {
    /// The answer to a probe.
    Pong,
    /// The members (empty for an operation that returns none).
    Members(Vec<Member>),
    /// The membership primary's address.
    Primary(SocketAddr),
    /// The membership operation failed (as the table, or the primary a
    /// forwarding node asked, said).
    Failed(MembershipError),
}

impl ServiceRequest for ClusterRequest {
    type Response = ClusterResponse;
    fn tagged(&self) -> RequestRef<'_> {
        RequestRef::Cluster(self)
    }
}

/// To the node owning an actor's reminders.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ReminderRequest {
    /// The reminders of `actor` changed in the table: re-read them.
    Changed { actor: ActorId },
}

/// The reminder service's answer.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ReminderResponse {
    /// Noted.
    Done,
}

impl ServiceRequest for ReminderRequest {
    type Response = ReminderResponse;
    fn tagged(&self) -> RequestRef<'_> {
        RequestRef::Reminders(self)
    }
}

/// An operation on the membership table.
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
