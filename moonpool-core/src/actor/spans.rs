//! The `tracing` spans of calls, turns and activations, with the fields
//! people filter on. All are `debug`, under the node's `info` span
//! (`node{node, cluster}`):
//!
//! - `call{actor, method, call, caller}` — the caller's side of a call
//!   (`call` numbers it on the calling node; `caller` is the calling
//!   activation, absent outside any);
//! - `serve{caller, call, attempt}` — a call that arrived from another
//!   node (`caller` is that node; `attempt` counts its tries), around
//!   - `turn{actor, method}` — the handler's turn;
//! - `activation{actor, step}` — an activation's lifecycle: `activate`,
//!   `turns` (its runner), `leave`.
//!
//! With no subscriber wanting them they cost a level check: a call checks
//! once whether calls are traced and takes an untraced path when not,
//! so a local ask pays no span at all (callgrind: see the README's
//! Observability figures).

use std::future::Future;

use tracing::{Instrument as _, Level, Span};

use super::chain::ChainLink;
use super::erased::ActivationInfo;
use super::remote::CallTag;
use crate::id::ActorId;

/// The span of one turn, on the activation's side.
fn turn_span(actor: &ActorId, method: &'static str) -> Span {
    tracing::debug_span!("turn", %actor, method)
}

/// The span of a local call's turn: under `caller` (the call's span) when
/// there is one, so a turn queued behind others still says whose call it
/// serves; under whatever runs it otherwise.
pub(crate) fn turn_under(caller: &Span, actor: &ActorId, method: &'static str) -> Span {
    if caller.is_none() {
        return turn_span(actor, method);
    }
    tracing::debug_span!(parent: caller, "turn", %actor, method)
}

/// Runs `turn` (a handler of `actor`'s method `method`) in its turn's
/// span. For generated dispatch code (`#[actor_impl]`); hand-written
/// actors get it from [`dispatch`](super::dispatch).
#[doc(hidden)]
pub async fn in_turn<F: Future>(actor: &ActorId, method: &'static str, turn: F) -> F::Output {
    if !tracing::enabled!(Level::DEBUG) {
        return turn.await;
    }
    // Made and boxed only when traced: the untraced turn's future holds
    // no span.
    Box::pin(turn.instrument(turn_span(actor, method))).await
}

/// Whether a subscriber wants calls' spans: checked once per call, which
/// then takes its traced or its plain path.
#[inline]
pub(crate) fn calls_traced() -> bool {
    tracing::enabled!(Level::DEBUG)
}

/// The caller's span of call number `call` of `method` to `actor`, made
/// from inside the activations of `chain`.
pub(crate) fn call_span(
    actor: &ActorId,
    method: &'static str,
    call: u64,
    chain: &[ChainLink],
) -> Span {
    match chain.last() {
        Some(link) => tracing::debug_span!("call", %actor, method, call, caller = %link.actor),
        None => tracing::debug_span!("call", %actor, method, call),
    }
}

/// Whether a subscriber wants the spans of calls served for other nodes.
#[inline]
pub(crate) fn serves_traced() -> bool {
    tracing::enabled!(Level::DEBUG)
}

/// The span in which a call that arrived from another node is served.
pub(crate) fn serve_span(tag: &CallTag) -> Span {
    tracing::debug_span!(
        "serve",
        caller = %tag.caller,
        call = tag.call,
        attempt = tag.attempt
    )
}

/// The span of one step of an activation's life, under its node's span.
#[inline]
pub(crate) fn activation_span(info: &ActivationInfo, step: &'static str) -> Span {
    if !tracing::enabled!(Level::DEBUG) {
        return Span::none();
    }
    node_activation_span(info, step)
}

#[cold]
#[inline(never)]
fn node_activation_span(info: &ActivationInfo, step: &'static str) -> Span {
    match info.runtime.upgrade() {
        // Made inside the node's span rather than naming it the parent by
        // id: a node built under another subscriber than the current one
        // has an id the current one does not know (naming it panics in
        // `tracing-subscriber`'s registry); entered, it is simply not the
        // current one's parent.
        Some(rt) if !rt.span().is_none() => rt
            .span()
            .in_scope(|| tracing::debug_span!("activation", actor = %info.id, step)),
        _ => tracing::debug_span!(parent: None, "activation", actor = %info.id, step),
    }
}
