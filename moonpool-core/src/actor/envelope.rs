//! What travels to an activation: a typed turn from a caller on the same
//! node, a call that arrived as bytes, or the order to stop.

use moonpool_sim::BoxFuture;
use tokio::sync::oneshot;

use super::{ActorContext, CallChain, CallError};
use crate::transport::Responder;

/// An exclusive turn: what a local call runs on the actor, alone. It
/// replies to its caller itself and returns the handler's panic, if any.
pub(crate) type LocalTurn<A> =
    Box<dyn for<'a> FnOnce(&'a mut A, &'a ActorContext) -> BoxFuture<'a, Option<String>> + Send>;

/// A shared (reentrant) turn: runs alongside other shared turns.
pub(crate) type SharedTurn<A> =
    Box<dyn for<'a> FnOnce(&'a A, &'a ActorContext) -> BoxFuture<'a, Option<String>> + Send>;

/// A local call's work.
pub(crate) enum Turn<A> {
    Exclusive(LocalTurn<A>),
    Shared(SharedTurn<A>),
}

pub(crate) enum Envelope<A> {
    /// A call from this node: typed, never serialized. Dropped unrun, its
    /// turn hands the message back to the caller (see `local_call.rs`).
    Local {
        turn: Turn<A>,
        chain: CallChain,
        /// Whether this message counts as activity for idle deactivation
        /// (timer ticks do not).
        keep_alive: bool,
    },
    /// A call that arrived as bytes (boxed: it is the largest variant).
    Remote(Box<RemoteCall>),
    /// Deactivate now (node shutdown, or a duplicate activation).
    Stop,
}

impl<A> Envelope<A> {
    /// Whether running it restarts the activation's idle clock.
    pub(crate) fn keeps_alive(&self) -> bool {
        match self {
            Envelope::Local { keep_alive, .. } => *keep_alive,
            Envelope::Remote(_) => true,
            Envelope::Stop => false,
        }
    }
}

/// A call that arrived as bytes.
pub(crate) struct RemoteCall {
    pub(crate) method: u32,
    pub(crate) body: Vec<u8>,
    pub(crate) chain: CallChain,
    pub(crate) reply: RemoteReply,
}

/// Where the reply to a call that arrived as bytes goes: to a task waiting
/// for it, or straight back onto the connection it came in on. Dropped
/// without a reply (the activation stopped before running the call), it
/// tells the caller to route again.
pub(crate) struct RemoteReply {
    to: Option<ReplyTo>,
}

enum ReplyTo {
    Task(oneshot::Sender<Result<Vec<u8>, CallError>>),
    Wire(Responder),
}

impl RemoteReply {
    /// A reply to the task holding the receiver.
    pub(crate) fn to_task() -> (Self, oneshot::Receiver<Result<Vec<u8>, CallError>>) {
        let (tx, rx) = oneshot::channel();
        (
            Self {
                to: Some(ReplyTo::Task(tx)),
            },
            rx,
        )
    }

    /// A reply straight onto the requesting connection.
    pub(crate) fn to_wire(responder: Responder) -> Self {
        Self {
            to: Some(ReplyTo::Wire(responder)),
        }
    }

    pub(crate) fn send(mut self, result: Result<Vec<u8>, CallError>) {
        match self.to.take() {
            Some(ReplyTo::Task(tx)) => {
                let _ = tx.send(result);
            }
            Some(ReplyTo::Wire(responder)) => {
                responder.send(crate::node::encode_call_result(result));
            }
            None => {}
        }
    }
}

impl Drop for RemoteReply {
    fn drop(&mut self) {
        // A task sees its sender dropped; the wire needs to be told.
        if let Some(ReplyTo::Wire(responder)) = self.to.take() {
            responder.send(crate::node::encode_not_here());
        }
    }
}
