//! A call between a caller and an activation on the same node: the typed
//! message travels in the turn itself (never serialized), and one oneshot
//! carries back the reply, the handler's panic, or — when the activation
//! stops before running it — the message, so the caller can route again.

use std::future::Future;
use std::sync::Arc;

use moonpool_sim::{BoxFuture, Instant, Providers};
use tokio::sync::oneshot;

use super::activation::Activation;
use super::chain::CallChain;
use super::context::ActorContext;
use super::definition::{Actor, Handler, Message, SharedHandler};
use super::envelope::{Envelope, RunExclusive, Turn};
use super::error::CallError;
use super::panic::catch_handler_panic;
use super::spans::turn_under;
use crate::id::ActorId;
use tracing::{Instrument as _, Span};

/// How a local call ended, as its caller sees it.
pub(crate) enum LocalReply<M: Message> {
    Reply(M::Reply),
    Panicked(String),
    /// The activation stopped before running it.
    NotRun(M),
}

/// A local call on its way to the activation. Dropped unrun (the
/// activation stopped or closed before running it), it hands the message
/// back to the caller.
pub(crate) struct PendingCall<M: Message> {
    msg: Option<M>,
    reply: Option<oneshot::Sender<LocalReply<M>>>,
}

impl<M: Message> PendingCall<M> {
    fn new(msg: M, reply: oneshot::Sender<LocalReply<M>>) -> Self {
        Self {
            msg: Some(msg),
            reply: Some(reply),
        }
    }

    /// A message nobody waits for (a timer tick): no reply is sent.
    pub(crate) fn detached(msg: M) -> Self {
        Self {
            msg: Some(msg),
            reply: None,
        }
    }

    /// Runs `handle` on the message and sends its reply; returns the
    /// handler's panic, if any, for the scheduler.
    async fn run<F>(mut self, handle: impl FnOnce(M) -> F) -> Option<String>
    where
        F: Future<Output = M::Reply>,
    {
        let msg = self.msg.take()?;
        let (reply, panic) = match catch_handler_panic(handle(msg)).await {
            Ok(r) => (LocalReply::Reply(r), None),
            Err(message) => (LocalReply::Panicked(message.clone()), Some(message)),
        };
        if let Some(tx) = self.reply.take() {
            let _ = tx.send(reply);
        }
        panic
    }
}

impl<M: Message> Drop for PendingCall<M> {
    fn drop(&mut self) {
        if let (Some(msg), Some(tx)) = (self.msg.take(), self.reply.take()) {
            let _ = tx.send(LocalReply::NotRun(msg));
        }
    }
}

/// Builds the turn of a local call.
pub(crate) type TurnMaker<A, M> = fn(PendingCall<M>) -> Turn<A>;

/// The turn of an exclusive (`&mut self`) call.
pub(crate) fn exclusive_turn<A: Handler<M>, M: Message>(call: PendingCall<M>) -> Turn<A> {
    Turn::Exclusive(Box::new(ExclusiveCall { call, caller: None }))
}

/// The turn of a shared (`&self`) call.
pub(crate) fn shared_turn<A: SharedHandler<M>, M: Message>(call: PendingCall<M>) -> Turn<A> {
    Turn::Shared(Box::new(
        move |actor: &A, ctx: &ActorContext| -> BoxFuture<'_, Option<String>> {
            Box::pin(call.run(move |msg| actor.handle_shared(msg, ctx)))
        },
    ))
}

/// The turn of an exclusive call, in its turn's span under the caller's
/// `call` span, wherever it runs (see `spans.rs`).
pub(crate) fn traced_exclusive_turn<A: Handler<M>, M: Message>(call: PendingCall<M>) -> Turn<A> {
    Turn::Exclusive(Box::new(ExclusiveCall {
        call,
        caller: Some(Span::current()),
    }))
}

/// An exclusive call's turn: the call, and the caller's `call` span when
/// traced (the turn's span goes under it).
struct ExclusiveCall<M: Message> {
    call: PendingCall<M>,
    caller: Option<Span>,
}

impl<A: Handler<M>, M: Message> RunExclusive<A> for ExclusiveCall<M> {
    fn run<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Option<String>> {
        let ExclusiveCall { call, caller } = *self;
        let turn = call.run(move |msg| actor.handle(msg, ctx));
        match caller {
            None => Box::pin(turn),
            Some(caller) => Box::pin(turn.instrument(turn_under(&caller, ctx.id(), M::NAME))),
        }
    }

    fn run_owning(
        self: Box<Self>,
        mut actor: A,
        ctx: ActorContext,
    ) -> BoxFuture<'static, (A, Option<String>)> {
        let ExclusiveCall { call, caller } = *self;
        match caller {
            None => Box::pin(async move {
                let panic = call.run(|msg| actor.handle(msg, &ctx)).await;
                (actor, panic)
            }),
            Some(caller) => {
                let span = turn_under(&caller, ctx.id(), M::NAME);
                Box::pin(
                    async move {
                        let panic = call.run(|msg| actor.handle(msg, &ctx)).await;
                        (actor, panic)
                    }
                    .instrument(span),
                )
            }
        }
    }
}

/// The turn of a shared call, in its turn's span under the caller's
/// `call` span, wherever it runs (see `spans.rs`).
pub(crate) fn traced_shared_turn<A: SharedHandler<M>, M: Message>(call: PendingCall<M>) -> Turn<A> {
    let caller = Span::current();
    Turn::Shared(Box::new(
        move |actor: &A, ctx: &ActorContext| -> BoxFuture<'_, Option<String>> {
            let span = turn_under(&caller, ctx.id(), M::NAME);
            Box::pin(
                call.run(move |msg| actor.handle_shared(msg, ctx))
                    .instrument(span),
            )
        },
    ))
}

/// What became of a local call.
pub(crate) enum LocalOutcome<M: Message> {
    Reply(M::Reply),
    Failed(CallError),
    TimedOut,
    /// The activation stopped before running it: route again.
    NotRun(M),
}

/// Runs `msg` as a turn of the activation `target`, waiting for the reply
/// until `deadline`: right here in the caller's task when the call is
/// exclusive and the actor is at rest, behind the running turns otherwise.
/// `now`, a clock reading the caller took without waiting since, starts
/// the idle clock of a turn run right here.
#[allow(clippy::too_many_arguments)] // the call's parts, passed through once
pub(crate) async fn call_local<A: Actor, M: Message>(
    target: &Arc<Activation<A>>,
    id: &ActorId,
    msg: M,
    chain: CallChain,
    make: TurnMaker<A, M>,
    p: &Providers,
    now: Option<Instant>,
    deadline: Instant,
) -> LocalOutcome<M> {
    let (tx, mut rx) = oneshot::channel();
    let env = Envelope::Local {
        turn: make(PendingCall::new(msg, tx)),
        chain,
        keep_alive: true,
    };
    // Refused (the activation closed), the envelope is dropped here and
    // hands the message back through `rx`.
    let _ = target.deliver_at(env, now);
    // A turn run right here has answered already: no timeout to set up.
    let answer = match rx.try_recv() {
        Ok(reply) => Ok(Some(reply)),
        Err(oneshot::error::TryRecvError::Closed) => Ok(None),
        Err(oneshot::error::TryRecvError::Empty) => {
            p.timeout_at(deadline, rx).await.map(Result::ok)
        }
    };
    match answer {
        Ok(Some(LocalReply::Reply(r))) => LocalOutcome::Reply(r),
        Ok(Some(LocalReply::NotRun(m))) => match target.failure() {
            Some(reason) => LocalOutcome::Failed(CallError::ActivationFailed {
                actor: id.clone(),
                reason: reason.to_string(),
            }),
            None => LocalOutcome::NotRun(m),
        },
        Ok(Some(LocalReply::Panicked(message))) => {
            LocalOutcome::Failed(CallError::HandlerPanicked {
                actor: id.clone(),
                message,
            })
        }
        // Dropped mid-turn: the runtime itself is going away.
        Ok(None) => LocalOutcome::Failed(CallError::ShuttingDown),
        Err(_) => LocalOutcome::TimedOut,
    }
}
