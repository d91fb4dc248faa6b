//! Why a call failed.

use serde::{Deserialize, Serialize};

/// Every way a call can end without a reply. Travels over the wire, so a
/// remote failure arrives as the same variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CallError {
    /// No reply within the call's time limit.
    #[error("`{actor}` did not answer within {millis} ms")]
    Timeout {
        /// The target.
        actor: String,
        /// The limit.
        millis: u64,
    },
    /// The node hosting the activation is unreachable or died mid-call.
    #[error("the node hosting `{actor}` is unreachable: {reason}")]
    NodeUnreachable {
        /// The target.
        actor: String,
        /// What the transport said.
        reason: String,
    },
    /// No node in the cluster hosts this actor type.
    #[error("no node hosts actor type `{actor_type}`")]
    UnknownActorType {
        /// The type name.
        actor_type: String,
    },
    /// The actor type has no method with this id.
    #[error("actor type `{actor_type}` has no method with id {method:#010x}")]
    UnknownMethod {
        /// The type name.
        actor_type: String,
        /// The method id.
        method: u32,
    },
    /// The request or reply bytes could not be decoded.
    #[error("cannot decode the {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The decoder's error.
        reason: String,
    },
    /// The request or reply could not be encoded.
    #[error("cannot encode the {what}: {reason}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The encoder's error.
        reason: String,
    },
    /// The handler panicked; the activation was dropped.
    #[error("the handler of `{actor}` panicked: {message}")]
    HandlerPanicked {
        /// The target.
        actor: String,
        /// The panic message.
        message: String,
    },
    /// The activation could not be created.
    #[error("`{actor}` failed to activate: {reason}")]
    ActivationFailed {
        /// The target.
        actor: String,
        /// The error from `Actor::activate`.
        reason: String,
    },
    /// The call would wait on an activation that is itself waiting on this
    /// call chain (A → B → A): it would deadlock, so it fails at once.
    #[error("call cycle: `{actor}` is already waiting in this call chain ({chain})")]
    CallCycle {
        /// The target.
        actor: String,
        /// The chain, outermost first.
        chain: String,
    },
    /// The routing kept bouncing between stale locations.
    #[error("could not route to `{actor}` after {attempts} attempts")]
    RoutingFailed {
        /// The target.
        actor: String,
        /// How many were made.
        attempts: u32,
    },
    /// The node is shutting down and takes no new calls.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// This node has not been able to confirm its membership for its whole
    /// lease: the cluster may have declared it dead and moved its actors,
    /// so it serves nothing until it confirms again (see the node's
    /// failure-detection settings).
    #[error(
        "this node has not confirmed its cluster membership for {lease_millis} ms and serves no calls until it does (the cluster may have declared it dead)"
    )]
    MembershipUnconfirmed {
        /// The lease, in milliseconds.
        lease_millis: u64,
    },
    /// The calling node was declared dead by the cluster: its actors have
    /// moved, and what it still sends is refused.
    #[error("the calling node {caller} was declared dead by the cluster; its requests are refused")]
    CallerDeclaredDead {
        /// The calling node.
        caller: String,
    },
    /// This node has not been able to read the membership table for longer
    /// than its lease: it cannot tell where actors live, or whether it is
    /// still part of the cluster.
    #[error("{reason}")]
    MembershipUnavailable {
        /// Why the table cannot be read, in words.
        reason: String,
    },
    /// An activation asked for something of another actor type than its
    /// own (a timer delivering `wanted`'s messages, from an activation of
    /// `actual`).
    #[error("an activation of `{actual}` cannot start a timer for actor type `{wanted}`")]
    WrongActorType {
        /// The type the request named.
        wanted: String,
        /// The activation's own type.
        actual: String,
    },
}
