//! Timers: a message delivered to an activation every period, as a turn
//! of its own, until stopped or the activation deactivates.

use std::sync::Arc;
use std::time::Duration;

use super::activation::Activation;
use super::context::ActorContext;
use super::definition::{Handler, Message};
use super::envelope::Envelope;
use super::error::CallError;
use super::local_call::{PendingCall, exclusive_turn};
use crate::sync::lock;

/// Identifies a timer started with [`ActorContext::start_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(usize);

impl ActorContext {
    /// Delivers `make()` to this activation every `period`, as a turn of its
    /// own, until [`stop_timer`](Self::stop_timer) or deactivation. Ticks
    /// do not keep an idle activation alive.
    ///
    /// # Errors
    ///
    /// [`CallError::WrongActorType`] if `A` is not this activation's type.
    pub fn start_timer<A, M>(
        &self,
        period: Duration,
        make: impl Fn() -> M + Send + 'static,
    ) -> Result<TimerId, CallError>
    where
        A: Handler<M>,
        M: Message,
    {
        let Ok(activation) = Arc::clone(&self.activation)
            .into_any()
            .downcast::<Activation<A>>()
        else {
            return Err(CallError::WrongActorType {
                wanted: A::TYPE_NAME.to_string(),
                actual: self.id().type_name.to_string(),
            });
        };
        // Weak: a timer does not keep its activation's memory alive.
        let activation = Arc::downgrade(&activation);
        let p = self.providers().clone();
        let task = self
            .providers()
            .spawn_named(format!("timer:{}", self.id()), async move {
                loop {
                    p.sleep(period).await;
                    let Some(activation) = activation.upgrade() else {
                        return;
                    };
                    let tick = Envelope::Local {
                        turn: exclusive_turn::<A, M>(PendingCall::detached(make())),
                        chain: Vec::new(),
                        keep_alive: false,
                    };
                    if activation.deliver(tick).is_err() {
                        return;
                    }
                }
            });
        let made = self.info().with_schedules(|s| {
            s.timers.push(Some(task));
            s.timers.len() - 1
        });
        Ok(TimerId(made))
    }

    /// Stops a timer (no effect if it already stopped).
    pub fn stop_timer(&self, id: TimerId) {
        // Not `with_schedules`: an actor without timers has nothing to stop
        // and nothing to allocate.
        let task = lock(&self.info().schedules)
            .as_mut()
            .and_then(|s| s.timers.get_mut(id.0))
            .and_then(Option::take);
        if let Some(task) = task {
            task.abort();
        }
    }
}
