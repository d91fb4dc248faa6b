//! One activation: its mailbox, the turns it runs, and the task that builds
//! the actor and hands it to the turn scheduler (`turns.rs`).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use moonpool_sim::BoxFuture;
use tokio::sync::oneshot;

use super::mailbox::{MailboxRx, MailboxTx, mailbox};

use super::context::ActivationInfo;
use super::{Actor, ActorContext, ActorId, CallChain, CallError};
use crate::node::NodeInner;
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
    /// A call that arrived as bytes (boxed: it is the largest variant, and
    /// envelopes sit in every mailbox).
    Remote(Box<RemoteCall>),
    /// Deactivate now (node shutdown).
    Stop,
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

/// The handle the node keeps for an activation (a local caller clones it).
pub(crate) struct Activation<A> {
    pub(crate) tx: MailboxTx<Envelope<A>>,
    /// For actors whose turns are all exclusive: the actor itself, so that
    /// a local call to an idle activation can run its turn in the caller's
    /// task (see `local_call.rs`).
    pub(crate) inline: Option<Arc<Inline<A>>>,
}

impl<A> Clone for Activation<A> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            inline: self.inline.clone(),
        }
    }
}

/// An activation's actor, shared between its task and local callers.
///
/// Turns stay one at a time and in order: whoever runs a turn holds
/// `actor`'s lock; the activation's task takes a message from the mailbox
/// only while holding it, and a caller runs its turn inline only if it gets
/// the lock at once and finds the mailbox empty.
pub(crate) struct Inline<A> {
    /// `None` before activation, after deactivation, or after a handler
    /// panicked.
    pub(crate) actor: Arc<tokio::sync::Mutex<Option<A>>>,
    /// Nanoseconds (on the providers' clock) of the last inline turn, for
    /// idle deactivation.
    pub(crate) last_activity: std::sync::atomic::AtomicU64,
    /// The activation's context, for the turns' contexts.
    pub(crate) ctx: ActorContext,
}

/// The type-erased view of an activation.
pub(crate) trait AnyActivation: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn deliver_remote(&self, method: u32, body: Vec<u8>, chain: CallChain, reply: RemoteReply);
    fn stop(&self);
}

impl<A: Actor> AnyActivation for Activation<A> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn deliver_remote(&self, method: u32, body: Vec<u8>, chain: CallChain, reply: RemoteReply) {
        // If the mailbox is closed the envelope comes back in the error and
        // dropping it tells the caller to route again.
        let _ = self.tx.send(Envelope::Remote(Box::new(RemoteCall {
            method,
            body,
            chain,
            reply,
        })));
    }

    fn stop(&self) {
        let _ = self.tx.send(Envelope::Stop);
    }
}

/// Runs a handler future, turning a panic into `Err(message)`.
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let r = moonpool_core::actor::catch_handler_panic(async { panic!("bad input") }).await;
/// assert_eq!(r, Err::<(), _>("bad input".to_string()));
/// # }).unwrap();
/// ```
pub async fn catch_handler_panic<F: Future>(future: F) -> Result<F::Output, String> {
    CatchUnwind { future }.await
}

pin_project_lite::pin_project! {
    /// Polls the inner future, catching a panic (no allocation).
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(panic_text(payload.as_ref()))),
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_string())
}

/// Starts an activation of `A` for `id` and returns its handle.
pub(crate) fn spawn_activation<A: Actor>(
    node: &Arc<NodeInner>,
    id: ActorId,
    generation: u64,
) -> Arc<Activation<A>> {
    let (tx, rx) = mailbox();
    let ctx = ActorContext::new(ActivationInfo {
        id: id.clone(),
        node: Arc::downgrade(node),
        providers: Arc::clone(&node.providers),
        mailbox: Box::new(tx.clone()),
        timers: std::sync::Mutex::new(Vec::new()),
    });
    let inline = (!A::HAS_SHARED_METHODS).then(|| {
        Arc::new(Inline {
            actor: Arc::new(tokio::sync::Mutex::new(None)),
            last_activity: std::sync::atomic::AtomicU64::new(0),
            ctx: ctx.clone(),
        })
    });
    let activation = Arc::new(Activation {
        tx,
        inline: inline.clone(),
    });
    let weak = Arc::downgrade(node);
    node.providers.spawn_detached(
        format!("actor:{id}"),
        run::<A>(ctx, rx, inline, weak, generation),
    );
    activation
}

async fn run<A: Actor>(
    ctx: ActorContext,
    rx: MailboxRx<Envelope<A>>,
    inline: Option<Arc<Inline<A>>>,
    node: Weak<NodeInner>,
    generation: u64,
) {
    // The rare phases (activation, deactivation) are boxed: inline, their
    // state would size the task of every activation for its whole life.
    let Some((actor, rx)) = Box::pin(activate::<A>(&ctx, rx, &node, generation)).await else {
        return;
    };
    let (actor, rx, panicked) = match inline {
        Some(inline) => super::turns::schedule_with_inline(actor, &inline, rx).await,
        None => super::turns::schedule(actor, &ctx, rx).await,
    };
    Box::pin(deactivate::<A>(&ctx, actor, panicked, rx, node, generation)).await;
}

/// Builds the actor; on failure, leaves the node and answers whatever
/// arrived with the reason.
async fn activate<A: Actor>(
    ctx: &ActorContext,
    mut rx: MailboxRx<Envelope<A>>,
    node: &Weak<NodeInner>,
    generation: u64,
) -> Option<(A, MailboxRx<Envelope<A>>)> {
    let reason = match catch_handler_panic(A::activate(ctx)).await {
        Ok(Ok(actor)) => return Some((actor, rx)),
        Ok(Err(reason)) | Err(reason) => reason,
    };
    let id = ctx.id();
    tracing::warn!(actor = %id, %reason, "activation failed");
    if let Some(node) = node.upgrade() {
        node.forget_activation(id, generation).await;
    }
    rx.close();
    let err = CallError::ActivationFailed {
        actor: id.to_string(),
        reason,
    };
    while let Some(env) = rx.recv().await {
        if let Envelope::Remote(call) = env {
            call.reply.send(Err(err.clone()));
        }
    }
    None
}

/// Stops the activation's timers, runs its deactivation hook (unless a
/// handler panicked: its state may be half-updated), and leaves.
async fn deactivate<A: Actor>(
    ctx: &ActorContext,
    actor: Option<A>,
    panicked: bool,
    rx: MailboxRx<Envelope<A>>,
    node: Weak<NodeInner>,
    generation: u64,
) {
    ctx.stop_all_timers();
    if panicked {
        tracing::error!(actor = %ctx.id(), "a handler panicked; dropping the activation");
    } else if let Some(mut actor) = actor {
        actor.on_deactivate(ctx).await;
    }
    finish::<A>(node, ctx.id(), generation, rx).await;
}

/// Leaves the node's table and the directory, then drops whatever arrived
/// in the meantime unrun: each caller sees that and re-routes to a new
/// activation.
async fn finish<A: Actor>(
    node: Weak<NodeInner>,
    id: &ActorId,
    generation: u64,
    mut rx: MailboxRx<Envelope<A>>,
) {
    if let Some(node) = node.upgrade() {
        node.forget_activation(id, generation).await;
    }
    rx.close();
    while rx.recv().await.is_some() {}
}
