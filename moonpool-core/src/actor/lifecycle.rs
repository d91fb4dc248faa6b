//! The start of an activation's life: building its actor, then running
//! what queued meanwhile (or, if building failed, answering it with why).

use std::sync::Arc;

use super::activation::{Activation, Next};
use super::chain::TurnKind;
use super::definition::Actor;
use super::envelope::Envelope;
use super::error::CallError;
use super::exit::forget;
use super::panic::catch_handler_panic;
use super::turns::{proceed, run};

/// An activation's start: builds the actor, then runs whatever queued
/// while it was being built. Started right where the activation was
/// created and continued in a task of its own if it waits (see
/// `AnyActivation::start`).
pub(crate) async fn activate<A: Actor>(activation: Arc<Activation<A>>) {
    let ctx = activation.context(Vec::new(), TurnKind::Exclusive);
    let built = catch_handler_panic(A::activate(&ctx)).await;
    drop(ctx);
    match built {
        Ok(Ok(actor)) => {
            activation.touch();
            activation.watch_idle();
            match activation.next_or_rest(actor) {
                Next::Run(actor, env) => run(activation, actor, env).await,
                next => proceed(activation, next).await,
            }
        }
        Ok(Err(e)) => Box::pin(activation_failed(activation, e.in_words())).await,
        Err(panic) => {
            let reason = format!("`activate` panicked: {panic}");
            Box::pin(activation_failed(activation, reason)).await;
        }
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
        actor: activation.id().clone(),
        reason: reason.to_string(),
    };
    for env in activation.close(Some(reason)) {
        if let Envelope::Remote(call) = env {
            call.reply.send(Err(err.clone()));
        }
    }
}
