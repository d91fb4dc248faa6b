//! The `tracing` span of a turn that serves a call which arrived as
//! bytes: `debug` level, so it costs a level check when no subscriber
//! wants it, and carries the fields people filter on (the actor, the
//! method). Local calls run without one for now: wrapping their turn cost
//! 5 % more instructions per local ask even with no subscriber (callgrind,
//! 3 008 → 3 178), more than a span is worth there.

use std::future::Future;

use tracing::Instrument as _;

use crate::id::ActorId;

/// The span of one turn, on the activation's side.
fn turn_span(actor: &ActorId, method: &'static str) -> tracing::Span {
    tracing::debug_span!("turn", %actor, method)
}

/// Runs `turn` (a handler of `actor`'s method `method`) in its turn's
/// span. For generated dispatch code (`#[actor_impl]`); hand-written
/// actors get it from [`dispatch`](super::dispatch).
#[doc(hidden)]
pub async fn in_turn<F: Future>(actor: &ActorId, method: &'static str, turn: F) -> F::Output {
    let span = turn_span(actor, method);
    if span.is_none() {
        return turn.await;
    }
    turn.instrument(span).await
}
