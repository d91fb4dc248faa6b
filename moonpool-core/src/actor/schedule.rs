//! Who runs an activation's turns: a message handed to an activation at
//! rest starts a runner (`turns.rs`), in the caller's task or a new one;
//! halting and idle deactivation start its leaving (`exit.rs`); a new
//! activation starts with building its actor (`lifecycle.rs`).

use std::any::Any;
use std::future::Future as _;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Waker};

use moonpool_sim::{Instant, Providers};

use super::activation::{Activation, Exit, Offer};
use super::chain::CallChain;
use super::definition::Actor;
use super::envelope::{Envelope, RemoteCall};
use super::erased::{ActivationInfo, AnyActivation};
use super::error::CallError;
use super::exit::leave;
use super::lifecycle::activate;
use super::remote::{CallTag, RemoteReply};
use super::runtime::{Idle, Runtime};
use super::spans::activation_span;
use super::turns::{is_shared, run, run_here};
use crate::id::ActorId;
use crate::spawn::{spawn_as_in, spawn_in};
use crate::transport::Payload;

impl<A: Actor> Activation<A> {
    /// Queues `env`; or, when the actor is at rest, runs it: an exclusive
    /// turn right here (see [`run_here`]), anything else in a
    /// task of its own. Gives `env` back if the activation has closed.
    pub(crate) fn deliver(self: &Arc<Self>, env: Envelope<A>) -> Result<(), Envelope<A>> {
        self.deliver_at(env, None)
    }

    /// [`Activation::deliver`], with `now` (a clock reading the caller
    /// took without waiting since) starting the idle clock of a turn run
    /// right here.
    pub(crate) fn deliver_at(
        self: &Arc<Self>,
        env: Envelope<A>,
        now: Option<Instant>,
    ) -> Result<(), Envelope<A>> {
        match self.offer(env) {
            Offer::Queued => Ok(()),
            Offer::Refused(env) => Err(env),
            Offer::Start(actor, env) if !matches!(env, Envelope::Stop) && !is_shared(&env) => {
                run_here(self, actor, env, now);
                Ok(())
            }
            Offer::Start(actor, env) => {
                let run = run(Arc::clone(self), actor, env);
                let span = activation_span(&self.info, "turns");
                spawn_in(&self.info.providers, "actor-turns", &span, run);
                Ok(())
            }
        }
    }
}

impl<A: Actor> AnyActivation for Activation<A> {
    fn info(&self) -> &ActivationInfo {
        &self.info
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn start(self: Arc<Self>) {
        let span = activation_span(&self.info, "activate");
        let mut building = Box::pin(activate(Arc::clone(&self)));
        // Polled once with a waker that does nothing (as `run_here` does a
        // turn): a build still pending is polled again by its own task,
        // which then registers its own waker.
        let first = span.in_scope(|| {
            building
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
        });
        if first.is_pending() {
            let p = &self.info.providers;
            spawn_as_in(p, "activate", &self.info.id, &span, building);
        }
    }

    fn deliver_remote(
        self: Arc<Self>,
        method: u32,
        body: Payload,
        chain: CallChain,
        reply: RemoteReply,
        tag: CallTag,
        now: Option<Instant>,
    ) {
        let call = Envelope::Remote(Box::new(RemoteCall {
            method,
            body,
            chain,
            reply,
            tag,
        }));
        let refused = self.deliver_at(call, now);
        // Refused, the envelope is dropped here and its reply tells the
        // caller to route again — unless activation failed, which the
        // caller is told.
        if let (Err(Envelope::Remote(call)), Some(reason)) = (refused, self.failure()) {
            call.reply.send(Err(CallError::ActivationFailed {
                actor: self.info.id.clone(),
                reason: reason.to_string(),
            }));
        }
    }

    fn stop(self: Arc<Self>) {
        let _ = self.deliver(Envelope::Stop);
    }

    fn halt(self: Arc<Self>) {
        if let Some(actor) = self.halt_now() {
            drop(actor);
            let p = Arc::clone(&self.info.providers);
            let span = activation_span(&self.info, "leave");
            let id = self.info.id.clone();
            spawn_as_in(&p, "halt", id, &span, leave(self, Exit::Fenced));
        }
    }
}

impl<A: Actor> Idle for Activation<A> {
    fn check_idle(self: Arc<Self>, now: Instant) -> Option<Instant> {
        match self.take_if_idle(now) {
            Ok(actor) => {
                let p = Arc::clone(&self.info.providers);
                let span = activation_span(&self.info, "leave");
                let id = self.info.id.clone();
                let leaving = leave(self, Exit::Deactivate(actor));
                spawn_as_in(&p, "deactivate", id, &span, leaving);
                None
            }
            Err(again) => again,
        }
    }
}

/// Creates an activation of `A` for `id` on the node `runtime`; its actor
/// is built once it is started ([`AnyActivation::start`]).
pub(crate) fn new_activation<A: Actor>(
    runtime: Weak<dyn Runtime>,
    providers: Arc<Providers>,
    id: ActorId,
    generation: u64,
) -> Arc<Activation<A>> {
    Arc::new(Activation::new(ActivationInfo {
        id,
        runtime,
        providers,
        generation,
        schedules: Mutex::new(None),
        unsure_states: AtomicU32::new(0),
        halted: AtomicBool::new(false),
    }))
}
