//! What travels to an activation: a typed turn from a caller on the same
//! node, a call that arrived as bytes, or the order to stop.

use moonpool_sim::BoxFuture;

use super::chain::CallChain;
use super::context::ActorContext;
use super::remote::{CallTag, RemoteReply};
use crate::transport::Payload;

/// An exclusive turn: what a local call runs on the actor, alone. It
/// replies to its caller itself and returns the handler's panic, if any.
pub(crate) type ExclusiveTurn<A> = Box<dyn RunExclusive<A>>;

/// How an exclusive turn runs: on an actor a runner holds, or on an actor
/// at rest, taken along (in one allocation with the handler's future).
pub(crate) trait RunExclusive<A>: Send {
    /// Runs on `actor`, borrowed for the turn.
    fn run<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Option<String>>;

    /// Runs on `actor`, taken along with `ctx`; gives the actor back with
    /// the handler's panic, if any.
    fn run_owning(
        self: Box<Self>,
        actor: A,
        ctx: ActorContext,
    ) -> BoxFuture<'static, (A, Option<String>)>;
}

/// A shared (reentrant) turn: runs alongside other shared turns.
pub(crate) type SharedTurn<A> =
    Box<dyn for<'a> FnOnce(&'a A, &'a ActorContext) -> BoxFuture<'a, Option<String>> + Send>;

/// A local call's work.
pub(crate) enum Turn<A> {
    Exclusive(ExclusiveTurn<A>),
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
    pub(crate) body: Payload,
    pub(crate) chain: CallChain,
    pub(crate) reply: RemoteReply,
    pub(crate) tag: CallTag,
}
