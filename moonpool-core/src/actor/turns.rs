//! The turn scheduler of one activation.
//!
//! Exclusive turns (`&mut self` handlers) run one at a time, in arrival
//! order. Shared turns (`&self` handlers of [`SharedHandler`]) run
//! alongside each other, but never alongside an exclusive turn. A shared
//! call coming back through a call chain in which this activation waits in
//! a shared turn (A → B → A) jumps the queue, so reentrant call chains
//! cannot deadlock; any other call back into a waiting activation is a
//! [`CallError::CallCycle`], refused before it is queued.
//!
//! [`SharedHandler`]: super::SharedHandler

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;

use moonpool_sim::Instant;

use moonpool_sim::Providers;
use tokio::sync::{RwLock, mpsc};

use super::activation::{Envelope, Inline, RemoteCall, RemoteReply, Turn, catch_handler_panic};
use super::mailbox::MailboxRx;
use super::{Actor, ActorContext, CallError};
use crate::node::with_current_node;

/// A finished turn: whether it was exclusive, and its panic if any.
struct Done {
    exclusive: bool,
    panic: Option<String>,
}

fn is_shared<A: Actor>(env: &Envelope<A>) -> bool {
    match env {
        Envelope::Local { turn, .. } => matches!(turn, Turn::Shared(_)),
        Envelope::Remote(call) => A::is_shared(call.method),
        Envelope::Stop => false,
    }
}

/// A shared call whose chain already holds this activation in a shared
/// turn: it must not wait behind queued exclusive turns.
fn is_reentrant_callback<A: Actor>(env: &Envelope<A>, ctx: &ActorContext) -> bool {
    let chain = match env {
        Envelope::Local { chain, .. } => chain,
        Envelope::Remote(call) => &call.chain,
        Envelope::Stop => return false,
    };
    is_shared(env) && chain.iter().any(|l| l.actor == *ctx.id() && l.shared)
}

/// Runs the turns of an actor with shared methods until the activation
/// idles out, is stopped, or a handler panics; returns the actor (unless a
/// panic poisoned it), the mailbox (for draining), and whether a handler
/// panicked. (Actors whose turns are all exclusive use
/// [`schedule_with_inline`].)
pub(crate) async fn schedule<A: Actor>(
    actor: A,
    ctx: &ActorContext,
    rx: MailboxRx<Envelope<A>>,
) -> (Option<A>, MailboxRx<Envelope<A>>, bool) {
    // Boxed: its state is large, and inline it would size the activation's
    // task for its whole life.
    Box::pin(schedule_mixed(actor, ctx, rx)).await
}

/// Runs the turns of an actor whose turns are all exclusive, one after the
/// other, sharing the actor with local callers (see `Inline`): each turn
/// holds the actor's lock, and a message is taken from the mailbox only
/// under it, so an inline turn never overtakes a queued one. Returns as
/// [`schedule`] does.
///
/// The idle deadline is one timer per idle period, not one per turn: when
/// it fires early (there was activity since it was set) it is set again
/// for the last activity plus the idle timeout.
pub(crate) async fn schedule_with_inline<A: Actor>(
    actor: A,
    inline: &Inline<A>,
    mut rx: MailboxRx<Envelope<A>>,
) -> (Option<A>, MailboxRx<Envelope<A>>, bool) {
    let ctx = &inline.ctx;
    let p: &Providers = ctx.providers();
    let idle = A::options().idle_timeout;
    *inline.actor.lock().await = Some(actor);
    let mut last_activity = p.now();
    let mut idle_timer = p.time().sleep_until(last_activity + idle);
    loop {
        // A message is waiting, or `Err` when the idle timer fires first.
        let next = std::future::poll_fn(|cx| match rx.poll_ready(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => idle_timer.as_mut().poll(cx).map(Err),
        });
        let ready = next.await;
        let mut guard = inline.actor.lock().await;
        let Some(actor) = guard.as_mut() else {
            // An inline turn panicked and dropped the actor.
            return (None, rx, true);
        };
        if ready.is_err() {
            let inline_at = Instant::from_nanos(inline.last_activity.load(Ordering::Relaxed));
            last_activity = last_activity.max(inline_at);
            let due = last_activity + idle;
            if p.now() >= due {
                return (guard.take(), rx, false);
            }
            drop(guard);
            idle_timer = p.time().sleep_until(due);
            continue;
        }
        let env = match rx.try_recv() {
            Err(()) => continue,
            Ok(None) | Ok(Some(Envelope::Stop)) => return (guard.take(), rx, false),
            Ok(Some(env)) => env,
        };
        if !matches!(
            env,
            Envelope::Local {
                keep_alive: false,
                ..
            }
        ) {
            last_activity = p.now();
        }
        let panic = match env {
            Envelope::Stop => None,
            Envelope::Local { turn, chain, .. } => {
                let turn_ctx = ctx.for_turn(chain, false);
                match turn {
                    Turn::Exclusive(turn) => turn(actor, &turn_ctx).await,
                    Turn::Shared(turn) => turn(actor, &turn_ctx).await,
                }
            }
            // Boxed: inline, its state would size every idle activation's
            // task.
            Envelope::Remote(call) => Box::pin(remote_turn(actor, *call, ctx)).await,
        };
        if let Some(message) = panic {
            tracing::error!(actor = %ctx.id(), %message, "handler panicked");
            guard.take();
            return (None, rx, true);
        }
    }
}

/// Runs a call that arrived as bytes and answers it; returns the handler's
/// panic, if any.
async fn remote_turn<A: Actor>(
    actor: &mut A,
    call: RemoteCall,
    ctx: &ActorContext,
) -> Option<String> {
    let RemoteCall {
        method,
        body,
        chain,
        reply,
    } = call;
    let turn_ctx = ctx.for_turn(chain, false);
    let dispatch = actor.dispatch(method, &body, &turn_ctx);
    match catch_handler_panic(with_current_node(ctx.node(), dispatch)).await {
        Ok(result) => {
            reply.send(result);
            None
        }
        Err(message) => {
            reply.send(Err(CallError::HandlerPanicked {
                actor: ctx.id().to_string(),
                message: message.clone(),
            }));
            Some(message)
        }
    }
}

/// The general path: shared turns run alongside each other.
async fn schedule_mixed<A: Actor>(
    actor: A,
    ctx: &ActorContext,
    mut rx: MailboxRx<Envelope<A>>,
) -> (Option<A>, MailboxRx<Envelope<A>>, bool) {
    let p: &Providers = ctx.providers();
    let idle = A::options().idle_timeout;
    let state = Arc::new(RwLock::new(actor));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
    let mut queue: VecDeque<Envelope<A>> = VecDeque::new();
    let (mut exclusive, mut shared) = (false, 0usize);
    let mut stopping = false;
    let mut panicked = false;
    let mut last_activity = p.now();
    loop {
        // Start what may start, in order (nothing more after a panic).
        if !panicked {
            loop {
                let startable = match queue.front() {
                    None => false,
                    Some(env) if is_shared(env) => !exclusive,
                    Some(_) => !exclusive && shared == 0,
                };
                if !startable {
                    break;
                }
                let Some(env) = queue.pop_front() else { break };
                if start(env, &state, ctx, p, &done_tx).await {
                    exclusive = true;
                } else {
                    shared += 1;
                }
            }
        }
        let running = exclusive || shared > 0;
        if !running && (stopping || panicked) {
            break;
        }
        let wait = (last_activity + idle).saturating_duration_since(p.now());
        tokio::select! {
            biased;
            Some(done) = done_rx.recv() => {
                if done.exclusive { exclusive = false } else { shared -= 1 }
                if let Some(message) = done.panic {
                    tracing::error!(actor = %ctx.id(), %message, "handler panicked");
                    panicked = true;
                }
            }
            env = rx.recv(), if !stopping && !panicked => match env {
                None | Some(Envelope::Stop) => stopping = true,
                Some(env) => {
                    if !matches!(env, Envelope::Local { keep_alive: false, .. }) {
                        last_activity = p.now();
                    }
                    if is_reentrant_callback(&env, ctx) && !exclusive {
                        shared += 1;
                        start(env, &state, ctx, p, &done_tx).await;
                    } else {
                        queue.push_back(env);
                    }
                }
            },
            () = p.sleep(wait), if !running && queue.is_empty() && !stopping => break,
        }
    }
    // Calls still queued were never run: dropping them makes their callers
    // re-route.
    drop(queue);
    let actor = if panicked {
        None
    } else {
        Arc::try_unwrap(state).ok().map(RwLock::into_inner)
    };
    (actor, rx, panicked)
}

/// Starts one turn as its own task; returns whether it is exclusive.
async fn start<A: Actor>(
    env: Envelope<A>,
    state: &Arc<RwLock<A>>,
    ctx: &ActorContext,
    p: &Providers,
    done: &mpsc::UnboundedSender<Done>,
) -> bool {
    let shared = is_shared(&env);
    let done = done.clone();
    let name = format!("turn:{}", ctx.id());
    match env {
        Envelope::Stop => {
            let _ = done.send(Done {
                exclusive: !shared,
                panic: None,
            });
        }
        Envelope::Local { turn, chain, .. } => {
            let turn_ctx = ctx.for_turn(chain, shared);
            match turn {
                Turn::Exclusive(turn) => {
                    let mut guard = Arc::clone(state).write_owned().await;
                    p.spawn_named(name, async move {
                        let panic = turn(&mut guard, &turn_ctx).await;
                        let _ = done.send(Done {
                            exclusive: true,
                            panic,
                        });
                    });
                }
                Turn::Shared(turn) => {
                    let guard = Arc::clone(state).read_owned().await;
                    p.spawn_named(name, async move {
                        let panic = turn(&guard, &turn_ctx).await;
                        let _ = done.send(Done {
                            exclusive: false,
                            panic,
                        });
                    });
                }
            }
        }
        Envelope::Remote(call) => {
            let RemoteCall {
                method,
                body,
                chain,
                reply,
            } = *call;
            let turn_ctx = ctx.for_turn(chain, shared);
            let actor_name = ctx.id().to_string();
            if shared {
                let guard = Arc::clone(state).read_owned().await;
                p.spawn_named(name, async move {
                    let dispatch = guard.dispatch_shared(method, &body, &turn_ctx);
                    let result =
                        catch_handler_panic(with_current_node(turn_ctx.node(), dispatch)).await;
                    finish_remote(result, reply, &done, false, actor_name);
                });
            } else {
                let mut guard = Arc::clone(state).write_owned().await;
                p.spawn_named(name, async move {
                    let dispatch = guard.dispatch(method, &body, &turn_ctx);
                    let result =
                        catch_handler_panic(with_current_node(turn_ctx.node(), dispatch)).await;
                    finish_remote(result, reply, &done, true, actor_name);
                });
            }
        }
    }
    !shared
}

fn finish_remote(
    result: Result<Result<Vec<u8>, CallError>, String>,
    reply: RemoteReply,
    done: &mpsc::UnboundedSender<Done>,
    exclusive: bool,
    actor: String,
) {
    let panic = match result {
        Ok(r) => {
            reply.send(r);
            None
        }
        Err(message) => {
            reply.send(Err(CallError::HandlerPanicked {
                actor,
                message: message.clone(),
            }));
            Some(message)
        }
    };
    let _ = done.send(Done { exclusive, panic });
}
