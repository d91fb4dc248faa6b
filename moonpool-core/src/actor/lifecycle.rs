//! The two ends of an activation's life: building its actor (then running
//! what queued meanwhile), and leaving the node.

use std::sync::Arc;

use super::activation::{Activation, Exit, Next, catch_handler_panic};
use super::envelope::Envelope;
use super::{Actor, CallError};

/// The activation's first task: builds the actor, then runs whatever
/// queued while it was being built.
pub(crate) async fn activate<A: Actor>(activation: Arc<Activation<A>>) {
    let ctx = activation.context(Vec::new(), false);
    let built = catch_handler_panic(A::activate(&ctx)).await;
    drop(ctx);
    match built {
        Ok(Ok(actor)) => {
            activation.touch();
            activation.watch_idle();
            match activation.next_or_rest(actor) {
                Next::Run(actor, env) => super::turns::run(activation, actor, env).await,
                next => super::turns::proceed(activation, next).await,
            }
        }
        Ok(Err(reason)) | Err(reason) => Box::pin(activation_failed(activation, reason)).await,
    }
}

/// Activation failed: leave the node, then answer whatever arrived with
/// the reason (local callers read it from the closed activation).
async fn activation_failed<A: Actor>(activation: Arc<Activation<A>>, reason: String) {
    tracing::warn!(actor = %activation.id(), %reason, "activation failed");
    activation.begin_leaving();
    forget(&activation).await;
    let reason: Arc<str> = reason.into();
    let err = CallError::ActivationFailed {
        actor: activation.id().to_string(),
        reason: reason.to_string(),
    };
    for env in activation.close(Some(reason)) {
        if let Envelope::Remote(call) = env {
            call.reply.send(Err(err.clone()));
        }
    }
}

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
            let ctx = activation.context(Vec::new(), false);
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
async fn forget<A: Actor>(activation: &Activation<A>) {
    if let Some(node) = activation.info.node.upgrade() {
        node.forget_activation(activation.id(), activation.info.generation)
            .await;
    }
}
