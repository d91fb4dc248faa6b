//! Running an activation's turns while it has work; the runner's task ends
//! when the work does (the actor goes back to rest in its activation).
//!
//! Exclusive turns (`&mut self` handlers) run one at a time, in arrival
//! order. Shared turns (`&self` handlers of [`SharedHandler`]) run
//! alongside each other, but never alongside an exclusive turn. A shared
//! call coming back through a call chain in which this activation waits in
//! a shared turn (A → B → A) jumps the queue, so reentrant call chains
//! cannot deadlock; any other call back into a waiting activation is a
//! [`CallError::CallCycle`], refused before it is queued.
//!
//! [`SharedHandler`]: super::definition::SharedHandler

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use moonpool_sim::{BoxFuture, Instant};
use tokio::sync::{RwLock, mpsc};
use tracing::{Instrument as _, Span};

use crate::reminder::ReminderTick;

use super::activation::{Activation, Exit, Next};
use super::chain::{CallChain, TurnKind};
use super::context::ActorContext;
use super::current::with_runtime;
use super::definition::{Actor, dispatch};
use super::envelope::{Envelope, ExclusiveTurn, RemoteCall, Turn};
use super::error::CallError;
use super::exit::leave;
use super::panic::catch_handler_panic;
use super::reminders::TICK_METHOD;
use super::remote::{CallTag, RemoteReply};
use super::spans::{activation_span, serve_span, serves_traced};
use crate::id::ActorId;
use crate::spawn::spawn_in;

/// Turns run in a row before the runner yields once, so a flooded
/// activation cannot hog its worker thread.
const YIELD_EVERY: u32 = 64;

/// Runs `env`, then whatever queues behind it, until the actor is back at
/// rest or the activation leaves.
pub(crate) async fn run<A: Actor>(activation: Arc<Activation<A>>, actor: A, env: Envelope<A>) {
    if A::HAS_SHARED_METHODS {
        mixed(activation, actor, env).await;
    } else {
        exclusive(activation, actor, env).await;
    }
}

/// Runs one exclusive turn of an actor that was at rest right here, in the
/// task that brought the message (a local caller, a connection's reader, a
/// timer): its first step at once — most turns finish without waiting, so
/// there is no task to spawn and no hand-off between threads. A turn that
/// has to wait continues in a task of its own, so whoever brought it never
/// cuts it short by going away; whatever queued meanwhile runs in a task of
/// its own too.
#[inline]
pub(crate) fn run_here<A: Actor>(
    activation: &Arc<Activation<A>>,
    mut actor: A,
    env: Envelope<A>,
    now: Option<Instant>,
) {
    if env.keeps_alive() {
        match now {
            Some(now) => activation.touch_at(now),
            None => activation.touch(),
        }
    }
    let env = match env {
        Envelope::Local {
            turn: Turn::Exclusive(turn),
            chain,
            ..
        } => return run_local_here(activation, actor, turn, chain),
        env => env,
    };
    // A remote call's turn runs in the activation's span, as in a
    // runner's task (its `serve` span opens inside). A local call's turn
    // span is under the caller's call span, so it needs none made (none
    // is, unless traced at debug).
    let span = match env {
        Envelope::Remote(_) => activation_span(&activation.info, "turns"),
        _ => Span::none(),
    };
    let act = Arc::clone(activation);
    let mut turn: BoxFuture<'static, _> = Box::pin(async move {
        let panic = run_exclusive_turn(&act, &mut actor, env).await;
        let next = act.after_turn(actor, panic);
        (act, next)
    });
    match poll_once(&span, &mut turn) {
        Poll::Ready((_, Next::Rested)) => {}
        Poll::Ready((act, next)) => {
            continue_elsewhere(activation, &span, async move { proceed(act, next).await });
        }
        Poll::Pending => continue_elsewhere(activation, &span, async move {
            let (act, next) = turn.await;
            proceed(act, next).await;
        }),
    }
}

/// [`run_here`] for a local call's exclusive turn: the turn, which knows
/// its message's type, puts the handler's future and the actor in one
/// allocation (a runner's turn needs one more, for the actor borrowed).
fn run_local_here<A: Actor>(
    activation: &Arc<Activation<A>>,
    actor: A,
    turn: ExclusiveTurn<A>,
    chain: CallChain,
) {
    let ctx = activation.context(chain, TurnKind::Exclusive);
    let mut run = turn.run_owning(actor, ctx);
    // A local call's turn span is under the caller's call span: none to
    // make here (see `run_here`).
    let span = Span::none();
    match poll_once(&span, &mut run) {
        Poll::Ready((actor, panic)) => match activation.after_turn(actor, panic) {
            Next::Rested => {}
            next => {
                let act = Arc::clone(activation);
                continue_elsewhere(activation, &span, proceed(act, next));
            }
        },
        Poll::Pending => {
            let act = Arc::clone(activation);
            continue_elsewhere(activation, &span, async move {
                let (actor, panic) = run.await;
                let next = act.after_turn(actor, panic);
                proceed(act, next).await;
            });
        }
    }
}

/// Polls `turn` once in `span` with a waker that does nothing: a turn
/// still pending is polled again by its own task, which then registers its
/// own waker.
fn poll_once<T>(span: &Span, turn: &mut BoxFuture<'static, T>) -> Poll<T> {
    let mut first = || turn.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    if span.is_none() {
        first()
    } else {
        span.in_scope(first)
    }
}

/// Runs the rest of what [`run_here`] started in a task of its own (out
/// of line: most turns never get here).
#[cold]
#[inline(never)]
fn continue_elsewhere<A: Actor>(
    activation: &Arc<Activation<A>>,
    span: &Span,
    rest: impl Future<Output = ()> + Send + 'static,
) {
    let made;
    let span = if span.is_none() {
        made = activation_span(&activation.info, "turns");
        &made
    } else {
        span
    };
    spawn_in(&activation.info.providers, "actor-turns", span, rest);
}

/// What a runner does with [`Next`] once it has no more turns to run
/// itself.
pub(crate) async fn proceed<A: Actor>(activation: Arc<Activation<A>>, next: Next<A>) {
    match next {
        Next::Rested => {}
        Next::Run(actor, env) => run(activation, actor, env).await,
        Next::Panicked => Box::pin(leave(activation, Exit::Panicked)).await,
        Next::Unsure => Box::pin(leave(activation, Exit::Unsure)).await,
        Next::Halted => Box::pin(leave(activation, Exit::Fenced)).await,
    }
}

/// The runner of an actor whose turns are all exclusive: one turn after
/// the other, in order.
async fn exclusive<A: Actor>(activation: Arc<Activation<A>>, mut actor: A, mut env: Envelope<A>) {
    let mut streak = 0u32;
    loop {
        if matches!(env, Envelope::Stop) {
            return Box::pin(leave(activation, Exit::Deactivate(actor))).await;
        }
        if env.keeps_alive() {
            activation.touch();
        }
        let panic = run_exclusive_turn(&activation, &mut actor, env).await;
        match activation.after_turn(actor, panic) {
            Next::Run(a, e) => (actor, env) = (a, e),
            next => return Box::pin(proceed(activation, next)).await,
        }
        streak += 1;
        if streak.is_multiple_of(YIELD_EVERY) {
            moonpool_sim::yield_now().await;
        }
    }
}

/// Runs one message as an exclusive turn; returns the handler's panic, if
/// any. (Its caller restarts the idle clock.)
pub(crate) async fn run_exclusive_turn<A: Actor>(
    activation: &Arc<Activation<A>>,
    actor: &mut A,
    env: Envelope<A>,
) -> Option<String> {
    match env {
        Envelope::Stop => None,
        Envelope::Local { turn, chain, .. } => run_local_turn(activation, actor, turn, chain).await,
        Envelope::Remote(call) => {
            let (call, ctx) = remote_turn(activation, call, TurnKind::Exclusive);
            let dispatch = if call.method == TICK_METHOD {
                // A reminder's tick: every actor type handles it.
                Box::pin(dispatch::<A, ReminderTick>(actor, &call.body, &ctx))
            } else {
                actor.dispatch(call.method, &call.body, &ctx)
            };
            run_remote(activation, &ctx, dispatch, call.reply, &call.tag).await
        }
    }
}

/// Runs a local call's turn as an exclusive turn; returns the handler's
/// panic, if any.
async fn run_local_turn<A: Actor>(
    activation: &Arc<Activation<A>>,
    actor: &mut A,
    turn: Turn<A>,
    chain: CallChain,
) -> Option<String> {
    let ctx = activation.context(chain, TurnKind::Exclusive);
    match turn {
        Turn::Exclusive(turn) => turn.run(actor, &ctx).await,
        Turn::Shared(turn) => turn(actor, &ctx).await,
    }
}

/// A call that arrived as bytes, as a turn of kind `turn`: the call (its
/// chain moved into the context; still boxed, so the runner's future holds
/// a pointer, not the call) and the turn's context.
fn remote_turn<A: Actor>(
    activation: &Arc<Activation<A>>,
    mut call: Box<RemoteCall>,
    turn: TurnKind,
) -> (Box<RemoteCall>, ActorContext) {
    let chain = std::mem::take(&mut call.chain);
    (call, activation.context(chain, turn))
}

/// Runs the dispatch of a call that arrived as bytes (decoding, the
/// handler, encoding the reply), with the node as the current runtime so
/// references in the message bind to it, and sends the result; returns
/// the handler's panic, if any.
async fn run_remote<A: Actor>(
    activation: &Arc<Activation<A>>,
    ctx: &ActorContext,
    dispatch: impl Future<Output = Result<Vec<u8>, CallError>>,
    reply: RemoteReply,
    tag: &CallTag,
) -> Option<String> {
    let turn = catch_handler_panic(with_runtime(ctx.runtime(), dispatch));
    // The span is made and boxed with the turn only when traced, so the
    // runner's future (moved into every task that runs turns) holds no
    // span when nobody traces.
    let result = if serves_traced() {
        Box::pin(turn.instrument(serve_span(tag))).await
    } else {
        turn.await
    };
    answer(result, reply, activation.id())
}

/// Sends a remote call's result; returns the handler's panic, if any.
fn answer(
    result: Result<Result<Vec<u8>, CallError>, String>,
    reply: RemoteReply,
    actor: &ActorId,
) -> Option<String> {
    match result {
        Ok(r) => {
            reply.send(r);
            None
        }
        Err(message) => {
            reply.send(Err(CallError::HandlerPanicked {
                actor: actor.clone(),
                message: message.clone(),
            }));
            Some(message)
        }
    }
}

/// A finished turn of an actor with shared methods: whether it was
/// exclusive, and its panic if any.
struct Done {
    exclusive: bool,
    panic: Option<String>,
}

/// How a busy period of an actor with shared methods ended.
enum Period<A> {
    /// Nothing runs, nothing is queued.
    Rest(A),
    /// The activation leaves: a `Stop` arrived (the turns before it have
    /// finished), a handler panicked, or a turn left a state unsure (the
    /// turns still running have finished).
    Leave(Exit<A>),
}

/// Whether `env` is a shared (reentrant) turn.
pub(crate) fn is_shared<A: Actor>(env: &Envelope<A>) -> bool {
    match env {
        Envelope::Local { turn, .. } => matches!(turn, Turn::Shared(_)),
        Envelope::Remote(call) => A::is_shared(call.method),
        Envelope::Stop => false,
    }
}

/// A shared call whose chain already holds this activation in a shared
/// turn: it must not wait behind queued exclusive turns.
fn is_reentrant_callback<A: Actor>(env: &Envelope<A>, id: &ActorId) -> bool {
    let chain = match env {
        Envelope::Local { chain, .. } => chain,
        Envelope::Remote(call) => &call.chain,
        Envelope::Stop => return false,
    };
    is_shared(env)
        && chain
            .iter()
            .any(|l| l.actor == *id && l.turn == TurnKind::Shared)
}

/// The runner of an actor with shared methods: busy periods, each ending
/// when nothing runs and nothing is queued.
async fn mixed<A: Actor>(activation: Arc<Activation<A>>, mut actor: A, mut env: Envelope<A>) {
    loop {
        let exit = match busy_period(&activation, actor, env).await {
            Period::Rest(a) => match activation.next_or_rest(a) {
                Next::Run(a, e) => {
                    (actor, env) = (a, e);
                    continue;
                }
                next => return Box::pin(proceed(activation, next)).await,
            },
            Period::Leave(exit) => exit,
        };
        return Box::pin(leave(activation, exit)).await;
    }
}

/// Runs turns (each shared or exclusive turn in a task of its own) until
/// nothing runs and nothing is queued, a `Stop` arrives, a handler
/// panics, or a turn leaves a state unsure.
async fn busy_period<A: Actor>(
    activation: &Arc<Activation<A>>,
    actor: A,
    first: Envelope<A>,
) -> Period<A> {
    let state = Arc::new(RwLock::new(actor));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut queue: VecDeque<Envelope<A>> = VecDeque::new();
    let (mut exclusive, mut shared) = (false, 0usize);
    let (mut stopping, mut panicked, mut unsure) = (false, false, false);
    let mut arrived = Some(first);
    loop {
        match arrived.take() {
            None => {}
            Some(Envelope::Stop) => stopping = true,
            Some(env) => {
                if env.keeps_alive() {
                    activation.touch();
                }
                if is_reentrant_callback(&env, activation.id()) && !exclusive {
                    shared += 1;
                    start(env, &state, activation, &done_tx).await;
                } else {
                    queue.push_back(env);
                }
            }
        }
        // Start what may start, in order (nothing more after a panic).
        while let Some(front) = queue.front() {
            let startable = if is_shared(front) {
                !exclusive
            } else {
                !exclusive && shared == 0
            };
            if panicked || unsure || activation.info.is_halted() || !startable {
                break;
            }
            let Some(env) = queue.pop_front() else { break };
            if start(env, &state, activation, &done_tx).await {
                exclusive = true;
            } else {
                shared += 1;
            }
        }
        let running = exclusive || shared > 0;
        let halted = activation.info.is_halted();
        if !running && (stopping || panicked || unsure || halted) {
            break;
        }
        if !running {
            // Nothing runs, so nothing could wait in `queue`.
            match activation.try_next() {
                Some(env) => {
                    arrived = Some(env);
                    continue;
                }
                None => break,
            }
        }
        tokio::select! {
            biased;
            Some(done) = done_rx.recv() => {
                if done.exclusive { exclusive = false } else { shared -= 1 }
                if let Some(message) = done.panic {
                    tracing::error!(actor = %activation.id(), %message, "handler panicked");
                    panicked = true;
                }
                unsure |= activation.info.holds_unsure_state();
            }
            env = std::future::poll_fn(|cx| activation.poll_next(cx)), if !stopping && !panicked && !unsure && !halted => {
                arrived = Some(env);
            }
        }
    }
    // Calls still queued were never run: dropping them makes their callers
    // re-route.
    drop(queue);
    if panicked {
        return Period::Leave(Exit::Panicked);
    }
    if activation.info.is_halted() {
        return Period::Leave(Exit::Fenced);
    }
    if unsure {
        tracing::warn!(
            actor = %activation.id(),
            "the actor holds a state it cannot vouch for; deactivating (the next call activates from storage)"
        );
        return Period::Leave(Exit::Unsure);
    }
    // Every turn has dropped its guard before reporting done, so the actor
    // is ours alone again.
    match Arc::try_unwrap(state) {
        Ok(state) if stopping => Period::Leave(Exit::Deactivate(state.into_inner())),
        Ok(state) => Period::Rest(state.into_inner()),
        Err(_) => {
            tracing::error!(actor = %activation.id(), "a turn still holds the actor; dropping the activation");
            Period::Leave(Exit::Panicked)
        }
    }
}

/// Starts one turn as a task of its own; returns whether it is exclusive.
/// The task drops its hold on the actor before it reports done.
async fn start<A: Actor>(
    env: Envelope<A>,
    state: &Arc<RwLock<A>>,
    activation: &Arc<Activation<A>>,
    done: &mpsc::UnboundedSender<Done>,
) -> bool {
    let shared = is_shared(&env);
    let done = done.clone();
    let report = move |panic: Option<String>| {
        let _ = done.send(Done {
            exclusive: !shared,
            panic,
        });
    };
    let act = Arc::clone(activation);
    let p = &activation.info.providers;
    // Each turn runs in the runner's span (the activation's), when a
    // subscriber wants it.
    if shared {
        let guard = Arc::clone(state).read_owned().await;
        spawn_in(p, "actor-turn", &tracing::Span::current(), async move {
            let panic = run_shared_turn(&act, &guard, env).await;
            drop(guard);
            report(panic);
        });
    } else {
        let mut guard = Arc::clone(state).write_owned().await;
        spawn_in(p, "actor-turn", &tracing::Span::current(), async move {
            let panic = run_exclusive_turn(&act, &mut guard, env).await;
            drop(guard);
            report(panic);
        });
    }
    !shared
}

/// Runs one shared message (see [`is_shared`]) alongside other shared
/// turns; returns the handler's panic, if any.
async fn run_shared_turn<A: Actor>(
    activation: &Arc<Activation<A>>,
    actor: &A,
    env: Envelope<A>,
) -> Option<String> {
    match env {
        Envelope::Local {
            turn: Turn::Shared(turn),
            chain,
            ..
        } => turn(actor, &activation.context(chain, TurnKind::Shared)).await,
        Envelope::Remote(call) => {
            let (call, ctx) = remote_turn(activation, call, TurnKind::Shared);
            let dispatch = actor.dispatch_shared(call.method, &call.body, &ctx);
            run_remote(activation, &ctx, dispatch, call.reply, &call.tag).await
        }
        // Not shared (`is_shared` says so): never started here. Dropped, a
        // local call hands its message back to its caller.
        Envelope::Local { .. } | Envelope::Stop => None,
    }
}
