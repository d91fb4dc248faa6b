//! A call between a caller and an activation on the same node: the typed
//! message travels in the turn itself (never serialized), and one oneshot
//! carries back the reply, the handler's panic, or — when the activation
//! stops before running it — the message, so the caller can route again.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use moonpool_sim::{BoxFuture, Instant, Providers};
use tokio::sync::oneshot;

use super::mailbox::MailboxTx;

use super::activation::{Activation, Envelope, Inline, Turn, catch_handler_panic};
use super::{Actor, ActorContext, ActorId, CallChain, CallError, Handler, Message, SharedHandler};

/// How a local call ended, as its caller sees it.
pub(crate) enum LocalReply<M: Message> {
    Reply(M::Reply),
    Panicked(String),
    /// The activation stopped before running it.
    NotRun(M),
}

/// A local call on its way to the activation. Dropped unrun (the
/// activation stopped, or its mailbox closed), it hands the message back to
/// the caller.
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
    Turn::Exclusive(Box::new(
        move |actor: &mut A, ctx: &ActorContext| -> BoxFuture<'_, Option<String>> {
            Box::pin(call.run(move |msg| actor.handle(msg, ctx)))
        },
    ))
}

/// The turn of a shared (`&self`) call.
pub(crate) fn shared_turn<A: SharedHandler<M>, M: Message>(call: PendingCall<M>) -> Turn<A> {
    Turn::Shared(Box::new(
        move |actor: &A, ctx: &ActorContext| -> BoxFuture<'_, Option<String>> {
            Box::pin(call.run(move |msg| actor.handle_shared(msg, ctx)))
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

/// An activation's typed mailbox.
pub(crate) type Mailbox<A> = MailboxTx<Envelope<A>>;

/// Runs `msg` as a turn of the activation `target`, waiting for the reply
/// until `deadline`: right here when the activation is idle and allows it,
/// through its mailbox otherwise.
pub(crate) async fn local_turn<A: Actor, M: Message>(
    target: &Activation<A>,
    id: &ActorId,
    msg: M,
    chain: CallChain,
    make: TurnMaker<A, M>,
    p: &Providers,
    deadline: Instant,
) -> LocalOutcome<M> {
    let (tx, rx) = oneshot::channel();
    let turn = make(PendingCall::new(msg, tx));
    let queued = match &target.inline {
        Some(inline) => run_inline(inline, &target.tx, turn, chain, p).await,
        None => Err((turn, chain)),
    };
    if let Err((turn, chain)) = queued {
        // If the mailbox is closed, the envelope comes back in the error
        // and dropping it hands the message back through `rx`.
        let _ = target.tx.send(Envelope::Local {
            turn,
            chain,
            keep_alive: true,
        });
    }
    match p.timeout_at(deadline, rx).await {
        Ok(Ok(LocalReply::Reply(r))) => LocalOutcome::Reply(r),
        Ok(Ok(LocalReply::NotRun(m))) => LocalOutcome::NotRun(m),
        Ok(Ok(LocalReply::Panicked(message))) => LocalOutcome::Failed(CallError::HandlerPanicked {
            actor: id.to_string(),
            message,
        }),
        // Dropped mid-turn: the runtime itself is going away.
        Ok(Err(_)) => LocalOutcome::Failed(CallError::ShuttingDown),
        Err(_) => LocalOutcome::TimedOut,
    }
}

/// Runs an exclusive turn in the caller's task when the activation is idle:
/// its actor's lock is free and nothing waits in its mailbox (so the turn
/// overtakes nothing). The first step runs right here — most turns finish
/// without waiting, with no hand-off between tasks or threads; a turn that
/// has to wait continues in a task of its own, so the caller giving up
/// never cuts a turn short. Gives the turn back when it must be queued.
async fn run_inline<A: Actor>(
    inline: &Arc<Inline<A>>,
    mailbox: &Mailbox<A>,
    turn: Turn<A>,
    chain: CallChain,
    p: &Providers,
) -> Result<(), (Turn<A>, CallChain)> {
    let f = match turn {
        Turn::Exclusive(f) => f,
        shared @ Turn::Shared(_) => return Err((shared, chain)),
    };
    let mut guard = match Arc::clone(&inline.actor).try_lock_owned() {
        Ok(guard) if guard.is_some() && mailbox.is_empty() => guard,
        _ => return Err((Turn::Exclusive(f), chain)),
    };
    let now = p.now().since_epoch().as_nanos();
    inline
        .last_activity
        .store(u64::try_from(now).unwrap_or(u64::MAX), Ordering::Relaxed);
    let ctx = inline.ctx.for_turn(chain, false);
    let mailbox = mailbox.clone();
    let mut run = Box::pin(async move {
        let panic = match guard.as_mut() {
            Some(actor) => f(actor, &ctx).await,
            None => None,
        };
        if let Some(message) = panic {
            // The state may be half-updated: drop the actor, and wake the
            // activation's task to wind down without its deactivation hook.
            tracing::error!(actor = %ctx.id(), %message, "handler panicked");
            guard.take();
            let _ = mailbox.send(Envelope::Stop);
        }
    });
    let first = std::future::poll_fn(|cx| Poll::Ready(run.as_mut().poll(cx))).await;
    if first.is_pending() {
        p.spawn_detached(format!("turn:{}", inline.ctx.id()), run);
    }
    Ok(())
}
