//! The end of an activation's life: its deactivation hook (when it may
//! run), then leaving the node's table and the directory.

use std::sync::Arc;

use super::activation::{Activation, Exit};
use super::chain::TurnKind;
use super::definition::Actor;
use super::panic::catch_handler_panic;

/// Deactivates: stops the activation's timers, runs its deactivation hook
/// (unless a handler panicked, leaving the state half-updated, or the
/// state is unsure), leaves the node, and drops whatever arrived in the
/// meantime unrun — each caller sees that and re-routes to a new
/// activation.
pub(crate) async fn leave<A: Actor>(activation: Arc<Activation<A>>, exit: Exit<A>) {
    activation.begin_leaving();
    activation.info.stop_all_timers();
    match exit {
        Exit::Deactivate(mut actor) => {
            let ctx = activation.context(Vec::new(), TurnKind::Exclusive);
            if let Err(message) = catch_handler_panic(actor.on_deactivate(&ctx)).await {
                tracing::error!(actor = %activation.id(), %message, "on_deactivate panicked");
            }
        }
        Exit::Panicked => {
            tracing::error!(actor = %activation.id(), "a handler panicked; dropping the activation");
        }
        Exit::Unsure => {}
        Exit::Fenced => {
            tracing::warn!(actor = %activation.id(), "the node was declared dead; dropping the activation");
        }
    }
    forget(&activation).await;
    drop(activation.close(None));
}

/// Leaves the node's table and the directory.
pub(crate) async fn forget<A: Actor>(activation: &Activation<A>) {
    if let Some(node) = activation.info.runtime.upgrade() {
        node.forget_activation(activation.id(), activation.info.generation)
            .await;
    }
}
