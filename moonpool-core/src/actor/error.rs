//! Why a call failed.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::ActorId;
use crate::state::StorageError;
use crate::transport::NodeId;

/// Every way a call can end without a reply. Travels over the wire, so a
/// remote failure arrives as the same variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CallError {
    /// No reply within the call's time limit.
    #[error("`{actor}` did not answer within {} ms", .after.as_millis())]
    Timeout {
        /// The target.
        actor: ActorId,
        /// The limit.
        after: Duration,
    },
    /// The node hosting the activation is unreachable or died mid-call.
    #[error("the node hosting `{actor}` is unreachable: {reason}")]
    NodeUnreachable {
        /// The target.
        actor: ActorId,
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
        actor: ActorId,
        /// The panic message.
        message: String,
    },
    /// The activation could not be created.
    #[error("`{actor}` failed to activate: {reason}")]
    ActivationFailed {
        /// The target.
        actor: ActorId,
        /// The error from `Actor::activate`, in words (with its sources).
        reason: String,
    },
    /// The call would wait on an activation that is itself waiting on this
    /// call chain (A → B → A): it would deadlock, so it fails at once.
    #[error("call cycle: `{actor}` is already waiting in this call chain ({})", Chain(.chain))]
    CallCycle {
        /// The target.
        actor: ActorId,
        /// The activations waiting in the chain, outermost first.
        chain: Vec<ActorId>,
    },
    /// The routing kept bouncing between stale locations.
    #[error("could not route to `{actor}` after {attempts} attempts")]
    RoutingFailed {
        /// The target.
        actor: ActorId,
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
        "this node has not confirmed its cluster membership for {} ms and serves no calls until it does (the cluster may have declared it dead)",
        .lease.as_millis()
    )]
    MembershipUnconfirmed {
        /// The lease.
        lease: Duration,
    },
    /// The calling node was declared dead by the cluster: its actors have
    /// moved, and what it still sends is refused.
    #[error("the calling node {caller} was declared dead by the cluster; its requests are refused")]
    CallerDeclaredDead {
        /// The calling node.
        caller: NodeId,
    },
    /// This node has not been able to read the membership table for longer
    /// than its lease: it cannot tell where actors live, or whether it is
    /// still part of the cluster.
    #[error("{error}")]
    MembershipUnavailable {
        /// Why the table cannot be read.
        error: MembershipError,
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

impl CallError {
    /// The error's kind as a short, stable name (`timeout`,
    /// `handler_panicked`, …): the `outcome` label of
    /// [`moonpool_calls_total`](crate::metrics::CALLS).
    ///
    /// ```
    /// use moonpool_core::CallError;
    /// assert_eq!(CallError::ShuttingDown.kind(), "shutting_down");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Timeout { .. } => "timeout",
            CallError::NodeUnreachable { .. } => "node_unreachable",
            CallError::UnknownActorType { .. } => "unknown_actor_type",
            CallError::UnknownMethod { .. } => "unknown_method",
            CallError::Decode { .. } => "decode",
            CallError::Encode { .. } => "encode",
            CallError::HandlerPanicked { .. } => "handler_panicked",
            CallError::ActivationFailed { .. } => "activation_failed",
            CallError::CallCycle { .. } => "call_cycle",
            CallError::RoutingFailed { .. } => "routing_failed",
            CallError::ShuttingDown => "shutting_down",
            CallError::MembershipUnconfirmed { .. } => "membership_unconfirmed",
            CallError::CallerDeclaredDead { .. } => "caller_declared_dead",
            CallError::MembershipUnavailable { .. } => "membership_unavailable",
            CallError::WrongActorType { .. } => "wrong_actor_type",
        }
    }

    /// Whether the same call may succeed if made again later, with nothing
    /// changed but time: the reply was lost or late, the actor was moving,
    /// this node could not confirm its membership for a while. A call
    /// that timed out or whose node died mid-call may have run: a retry
    /// may run the handler again, so retry what is safe to repeat.
    ///
    /// Not transient: what fails the same way every time (an unknown
    /// type or method, bytes that do not decode, a call cycle, a handler
    /// that panicked), this node shutting down or declared dead, and an
    /// activation that failed (its words say whether waiting helps: a
    /// store that was down, or a missing service).
    ///
    /// ```
    /// use moonpool_core::CallError;
    /// use moonpool_core::ActorId;
    /// let actor = ActorId { type_name: "Account".into(), key: "alice".into() };
    /// let late = CallError::Timeout { actor: actor.clone(), after: std::time::Duration::from_secs(3) };
    /// assert!(late.is_transient());
    /// assert!(!CallError::ShuttingDown.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Timeout { .. }
                | CallError::NodeUnreachable { .. }
                | CallError::RoutingFailed { .. }
                | CallError::MembershipUnconfirmed { .. }
                | CallError::MembershipUnavailable { .. }
        )
    }
}

/// A call chain in words: `A/a -> B/b`.
struct Chain<'a>(&'a [ActorId]);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" -> ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// Why an actor could not activate: what [`Actor::activate`] returns. Its
/// words (with those of its sources) reach every caller waiting for the
/// activation as [`CallError::ActivationFailed`].
///
/// [`Actor::activate`]: super::Actor::activate
///
/// # Example
///
/// ```
/// use moonpool_core::actor::ActivationError;
/// use moonpool_core::state::StorageError;
///
/// let plain = ActivationError::new("the account is frozen");
/// assert_eq!(plain.to_string(), "the account is frozen");
///
/// let io = std::io::Error::other("disk gone");
/// let wrapped = ActivationError::with_source("cannot read the rates file", io);
/// assert_eq!(wrapped.in_words(), "cannot read the rates file: disk gone");
///
/// let from_storage: ActivationError = StorageError::NotConfigured.into();
/// assert!(from_storage.in_words().starts_with("cannot load the actor's state: "));
/// ```
#[derive(Debug)]
pub struct ActivationError {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ActivationError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error saying `message`, caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The message followed by each source's, `: `-separated: what callers
    /// are told.
    pub fn in_words(&self) -> String {
        let mut words = self.message.clone();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            words.push_str(": ");
            words.push_str(&e.to_string());
            next = e.source();
        }
        words
    }
}

impl fmt::Display for ActivationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ActivationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for ActivationError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for ActivationError {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<StorageError> for ActivationError {
    fn from(e: StorageError) -> Self {
        Self::with_source("cannot load the actor's state", e)
    }
}

/// Why the membership table could not be read or written.
///
/// ```
/// use moonpool_core::node::MembershipError;
/// let e = MembershipError::PrimaryUnreachable {
///     primary: "127.0.0.1:4000".parse().unwrap(),
///     reason: "connection refused".to_string(),
/// };
/// assert!(e.to_string().starts_with("membership primary 127.0.0.1:4000 is unreachable"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MembershipError {
    /// The node hosting a development cluster's membership table cannot be
    /// reached; nothing else holds the table.
    #[error(
        "membership primary {primary} is unreachable; this development membership has no other copy ({reason})"
    )]
    PrimaryUnreachable {
        /// The primary's address.
        primary: SocketAddr,
        /// What the transport said.
        reason: String,
    },
    /// The primary (or the node that forwarded to it) answered with an
    /// error.
    #[error("membership primary {primary} refused the request: {reason}")]
    Refused {
        /// The node asked.
        primary: SocketAddr,
        /// Its answer, in words.
        reason: String,
    },
    /// A change kept losing races with other nodes' changes (each time
    /// it read the table again and decided again) and gave up.
    #[error("the membership table kept changing under {attempts} attempts to change it")]
    Contention {
        /// How many times it tried.
        attempts: u32,
    },
    /// Any other reason the table cannot be read or written (a database
    /// down or slow, say).
    #[error("membership table unavailable: {0}")]
    Unavailable(String),
}
