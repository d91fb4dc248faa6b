//! The caller's side of a call: through an [`ActorRef`] to a local
//! activation as a typed turn, or to the hosting node as bytes, following
//! stale locations until the deadline. The node is reached only through
//! its [`Runtime`].

use std::sync::Arc;
use std::time::Duration;

use moonpool_sim::{BoxFuture, Providers};
use tracing::Instrument as _;

use super::chain::{ChainLink, TurnKind, check_cycle};
use super::context::ActorContext;
use super::definition::{Actor, ActorRef, Handler, Message, SharedHandler, method_id};
use super::error::CallError;
use super::local_call::{
    LocalOutcome, TurnMaker, call_local, exclusive_turn, shared_turn, traced_exclusive_turn,
    traced_shared_turn,
};
use super::remote::{CallAnswer, CallHeadRef};
use super::runtime::{Located, Runtime, SendJob};
use super::spans::{call_span, calls_traced};
use crate::id::ActorId;
use crate::transport::TransportError;

/// Attempts to route one call before giving up (each re-route follows a
/// stale location).
const MAX_ROUTES: u32 = 10;

/// The pause before routing a call again after the `n`-th time in a row it
/// found no activation where the directory said (`n` from 1): none at
/// first, since the cache was just stale, then growing while the actor is
/// moving (its old activation deactivating, its entry being removed).
fn reroute_pause(n: u32) -> Duration {
    match n {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(5u64 << (n - 2).min(5)),
    }
}

/// The call error for a request to another node that failed in transport.
pub(crate) fn unreachable(actor: &ActorId, e: &TransportError) -> CallError {
    match e {
        TransportError::Timeout { after, .. } => CallError::Timeout {
            actor: actor.clone(),
            after: *after,
        },
        TransportError::Remote { message } => CallError::NodeUnreachable {
            actor: actor.clone(),
            reason: format!("the node failed the request: {message}"),
        },
        lost @ TransportError::ConnectionLost { .. } => CallError::NodeUnreachable {
            actor: actor.clone(),
            reason: format!("{lost}; the call may or may not have run"),
        },
        other => CallError::NodeUnreachable {
            actor: actor.clone(),
            reason: other.to_string(),
        },
    }
}

impl<A: Actor> ActorRef<A> {
    fn runtime(&self) -> Result<&Arc<dyn Runtime>, CallError> {
        self.parts().0.ok_or(CallError::ShuttingDown)
    }

    /// Sends `msg` and waits for the reply (within the node's call
    /// timeout). Activates the actor on first use.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why no reply came.
    pub async fn call<M: Message>(&self, msg: M) -> Result<M::Reply, CallError>
    where
        A: Handler<M>,
    {
        let makers: (TurnMaker<A, M>, TurnMaker<A, M>) =
            (exclusive_turn::<A, M>, traced_exclusive_turn::<A, M>);
        self.ask(msg, TurnKind::Exclusive, makers).await
    }

    /// Calls a shared (reentrant) method: it may run alongside other shared
    /// turns of the activation.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why no reply came.
    pub async fn call_shared<M: Message>(&self, msg: M) -> Result<M::Reply, CallError>
    where
        A: SharedHandler<M>,
    {
        let makers: (TurnMaker<A, M>, TurnMaker<A, M>) =
            (shared_turn::<A, M>, traced_shared_turn::<A, M>);
        self.ask(msg, TurnKind::Shared, makers).await
    }

    /// A call of kind `turn`, its turn made by `makers` (plain, traced):
    /// traced when a subscriber wants it, recorded when the node keeps
    /// metrics.
    async fn ask<M: Message>(
        &self,
        msg: M,
        turn: TurnKind,
        (plain, traced_turn): (TurnMaker<A, M>, TurnMaker<A, M>),
    ) -> Result<M::Reply, CallError> {
        let rt = self.runtime()?;
        let started = rt.metrics_enabled().then(|| rt.providers().now());
        let (id, chain) = (self.id(), self.parts().1);
        let result = if calls_traced() {
            traced::<A, M>(rt, id, msg, chain, turn, traced_turn).await
        } else {
            route::<A, M>(rt, id, msg, chain, turn, plain, None).await
        };
        if let Some(started) = started {
            record_call::<A, M, _>(rt, started, &result);
        }
        result
    }

    /// Sends `msg` without waiting for the handler. Sends from one node to
    /// one actor are delivered in the order they were made, each (as a
    /// call) before the next; a send that fails is logged and dropped.
    ///
    /// # Errors
    ///
    /// When the message cannot be handed to the target's node.
    pub async fn send<M: Message>(&self, msg: M) -> Result<(), CallError>
    where
        A: Handler<M>,
    {
        let rt = self.runtime()?;
        if rt.is_stopping() {
            return Err(CallError::ShuttingDown);
        }
        let chain = self.parts().1;
        check_cycle(self.id(), TurnKind::Exclusive, chain)?;
        let (target, chain) = (self.id().clone(), chain.clone());
        let job: SendJob = Box::new(move |rt: Arc<dyn Runtime>| {
            Box::pin(async move {
                let kind = TurnKind::Exclusive;
                let routed = if calls_traced() {
                    let make = traced_exclusive_turn::<A, M>;
                    traced::<A, M>(&rt, &target, msg, &chain, kind, make).await
                } else {
                    route::<A, M>(
                        &rt,
                        &target,
                        msg,
                        &chain,
                        kind,
                        exclusive_turn::<A, M>,
                        None,
                    )
                    .await
                };
                if let Err(e) = routed {
                    tracing::warn!(actor = %target, error = %e, "one-way message failed");
                }
            })
        });
        Arc::clone(rt).enqueue_send(self.id().clone(), job);
        Ok(())
    }
}

impl ActorContext {
    /// A reference to another actor; calls through it carry this call chain,
    /// so a cycle back into a waiting activation fails fast.
    pub fn actor<B: Actor>(&self, key: impl Into<String>) -> B::Ref {
        B::Ref::from(ActorRef::new(
            ActorId::of::<B>(key),
            self.runtime(),
            self.chain(),
        ))
    }
}

/// [`route`] in the call's span (a subscriber wants it; see `spans.rs`),
/// its turn in the turn's span if it runs here: boxed, so that the plain
/// path's future stays as small as it was.
fn traced<'a, A: Actor, M: Message>(
    rt: &'a Arc<dyn Runtime>,
    id: &'a ActorId,
    msg: M,
    chain: &'a [ChainLink],
    turn: TurnKind,
    make: TurnMaker<A, M>,
) -> BoxFuture<'a, Result<M::Reply, CallError>> {
    let call = rt.next_call_id();
    let span = call_span(id, M::NAME, call, chain);
    Box::pin(route::<A, M>(rt, id, msg, chain, turn, make, Some(call)).instrument(span))
}

/// Delivers one call: to a local activation as a typed turn, or to the
/// hosting node as bytes, following stale locations until the deadline.
/// `call` numbers it on this node (see `CallHead::call`); a call nobody
/// traces gets its number when it first leaves the node.
async fn route<A: Actor, M: Message>(
    rt: &Arc<dyn Runtime>,
    id: &ActorId,
    msg: M,
    chain: &[ChainLink],
    turn: TurnKind,
    make: TurnMaker<A, M>,
    call: Option<u64>,
) -> Result<M::Reply, CallError> {
    rt.admit(!chain.is_empty())?;
    check_cycle(id, turn, chain)?;
    let p: &Providers = rt.providers();
    // Before the call's clock reading: a call that runs here might never
    // wait, so it spends a unit of the task's budget (see `cooperate`).
    cooperate(p).await;
    let timeout = rt.call_timeout();
    // Read once: until the call first waits, this is "now" for the lease
    // check and the idle clock of a turn it runs right here too (a clock
    // read costs as much as a tenth of a local call).
    let started = p.now();
    let deadline = started + timeout;
    let timed_out = || CallError::Timeout {
        actor: id.clone(),
        after: timeout,
    };
    let routing_failed = || CallError::RoutingFailed {
        actor: id.clone(),
        attempts: MAX_ROUTES,
    };
    let unencodable = |reason: String| CallError::Encode {
        what: format!("{}::{} request", A::TYPE_NAME, M::NAME),
        reason,
    };
    let me = rt.me();
    let mut msg = Some(msg);
    // Set at the first remote attempt: the call's number, kept by every
    // other attempt, and how many requests were sent.
    let mut call = call;
    let mut sent = 0u32;
    // Times in a row the call found no activation where it went.
    let mut missed = 0u32;
    for attempt in 0..MAX_ROUTES {
        missed += 1;
        let pause = reroute_pause(missed);
        if missed == 3 {
            tracing::info!(actor = %id, "the call waits: its actor is moving between nodes (not found where the directory said, twice)");
        }
        if !pause.is_zero() {
            if p.now() + pause >= deadline {
                return Err(timed_out());
            }
            p.sleep(pause).await;
        }
        // The fast paths (the cache knows another node; the actor is
        // active here) need no allocation; anything else is one boxed
        // future.
        // A clock reading taken without waiting since, if there is one.
        let mut fresh = (attempt == 0).then_some(started);
        let fast = match rt.cached(id) {
            Some(n) if n != me => Some(Located::Remote(n)),
            _ => match rt.hosted(id) {
                Some(hosted) => {
                    rt.check_lease(*fresh.get_or_insert_with(|| p.now()))?;
                    Some(Located::Local(hosted))
                }
                None => None,
            },
        };
        let located = match fast {
            Some(located) => located,
            None => {
                // Locating may wait: the reading goes stale.
                fresh = None;
                match p
                    .timeout_at(deadline, Arc::clone(rt).locate(id, A::options().placement))
                    .await
                {
                    Ok(located) => located?,
                    Err(_) => return Err(timed_out()),
                }
            }
        };
        let target = match located {
            Located::Remote(n) => n,
            Located::NotHere => {
                rt.invalidate(id);
                continue;
            }
            Located::Local(hosted) => {
                let Ok(target) = hosted.downcast() else {
                    rt.invalidate(id);
                    continue;
                };
                let m = msg.take().ok_or_else(routing_failed)?;
                match call_local::<A, M>(&target, id, m, chain.to_vec(), make, p, fresh, deadline)
                    .await
                {
                    LocalOutcome::Reply(r) => return Ok(r),
                    LocalOutcome::Failed(e) => return Err(e),
                    LocalOutcome::TimedOut => return Err(timed_out()),
                    LocalOutcome::NotRun(m) => {
                        msg = Some(m);
                        rt.invalidate(id);
                        continue;
                    }
                }
            }
        };
        let m = msg.as_ref().ok_or_else(routing_failed)?;
        sent += 1;
        let head = CallHeadRef {
            target: id,
            method: const { method_id(M::NAME) },
            chain,
            turn,
            call: *call.get_or_insert_with(|| rt.next_call_id()),
            attempt: sent,
        };
        // The header, then the message, encoded straight into the buffer
        // the frame goes out in (again for each attempt: one that follows a
        // stale location is rare, and the number of the attempt changes).
        let mut request = rt
            .call_request(head)
            .map_err(|e| unencodable(e.to_string()))?;
        request.encode(m).map_err(|e| unencodable(e.to_string()))?;
        tracing::debug!(node = %target, attempt = sent, "call sent");
        let left = deadline.saturating_duration_since(fresh.unwrap_or_else(|| p.now()));
        match rt.request_call(target, request, left).await {
            Ok(CallAnswer::Reply(bytes)) => {
                return postcard::from_bytes(&bytes).map_err(|e| CallError::Decode {
                    what: format!("{}::{} reply", A::TYPE_NAME, M::NAME),
                    reason: e.to_string(),
                });
            }
            Ok(CallAnswer::Failed(e)) => return Err(e),
            Ok(CallAnswer::NotHere) => rt.invalidate(id),
            Err(too_large @ TransportError::TooLarge { .. }) => {
                return Err(unencodable(too_large.to_string()));
            }
            Err(e) => {
                rt.invalidate(id);
                missed = 0;
                // A call runs at most once: only a request that never
                // left is sent again. One lost in flight may have run,
                // and the caller is told so.
                if p.now() >= deadline || !matches!(e, TransportError::ConnectionClosed { .. }) {
                    return Err(unreachable(id, &e));
                }
                // Give the transport a moment to notice before routing
                // again.
                p.sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Err(routing_failed())
}

/// Spends a unit of the running task's cooperative budget, yielding first
/// if it is spent. A call to an actor at rest here runs its turn in the
/// caller's task without ever waiting, so a loop of them would otherwise
/// keep a one-thread runtime to itself: the node's own tasks (its lease
/// renewed, probes answered) would stop until the loop ends.
async fn cooperate(p: &Providers) {
    std::future::poll_fn(|cx| p.tasks().poll_budget(cx)).await;
}

/// Records a call of `M` to `A` made at `started` that ended with
/// `result` (the node asked for metrics).
#[cold]
fn record_call<A: Actor, M: Message, T>(
    rt: &Arc<dyn Runtime>,
    started: moonpool_sim::Instant,
    result: &Result<T, CallError>,
) {
    let elapsed = rt.providers().now().saturating_duration_since(started);
    let outcome = result.as_ref().err().map_or("ok", CallError::kind);
    crate::metrics::call(A::TYPE_NAME, M::NAME, outcome, elapsed);
}
