//! Reminders through a [`Node`]: registering and inspecting any actor's
//! reminders from outside it (an operator's tool, a set-up step, a test),
//! and what this node fires.

use std::sync::Arc;
use std::time::Duration;

use super::handle::Node;
use crate::actor::{
    Actor, Reminder, Runtime, list_reminders, register_reminder, unregister_reminder,
};
use crate::id::ActorId;
use crate::reminder::ReminderError;

impl Node {
    fn runtime(&self) -> Option<Arc<dyn Runtime>> {
        Some(Arc::clone(&self.inner) as Arc<dyn Runtime>)
    }

    /// Registers (or replaces) reminder `name` of actor `A` with `key`, as
    /// [`ActorContext::register_reminder`](crate::ActorContext::register_reminder)
    /// does from inside the actor. Any node with the cluster's reminder
    /// table may do it, a client-only node too.
    ///
    /// # Errors
    ///
    /// As `register_reminder`: a schedule outside the limits, no reminder
    /// table on this node ([`ReminderError::NotConfigured`]), or the
    /// table's error.
    ///
    /// # Example
    ///
    /// ```
    /// use std::time::Duration;
    /// use moonpool::prelude::*;
    /// use moonpool::reminder::InMemoryReminderTable;
    ///
    /// #[moonpool::actor]
    /// #[derive(Default)]
    /// pub struct Coordinator;
    ///
    /// #[moonpool::actor_impl]
    /// impl Coordinator {
    ///     async fn on_reminder(&mut self, _ctx: &ActorContext, _tick: ReminderTick) {
    ///         // sweep
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = Node::builder("ops")
    ///     .host::<Coordinator>()
    ///     .reminders(InMemoryReminderTable::new())
    ///     .build()
    ///     .await
    ///     .unwrap();
    /// let every_minute = Duration::from_secs(60);
    /// node.register_reminder::<Coordinator>("main", "sweep", Duration::ZERO, every_minute)
    ///     .await
    ///     .unwrap();
    /// assert!(node.unregister_reminder::<Coordinator>("main", "sweep").await.unwrap());
    /// node.shutdown().await;
    /// # });
    /// ```
    pub async fn register_reminder<A: Actor>(
        &self,
        key: impl Into<String>,
        name: &str,
        due: Duration,
        period: Duration,
    ) -> Result<Reminder, ReminderError> {
        register_reminder(self.runtime(), &ActorId::of::<A>(key), name, due, period).await
    }

    /// Removes reminder `name` of actor `A` with `key`; whether it existed.
    ///
    /// # Errors
    ///
    /// [`ReminderError::NotConfigured`] without a reminder table; the
    /// table's error.
    pub async fn unregister_reminder<A: Actor>(
        &self,
        key: impl Into<String>,
        name: &str,
    ) -> Result<bool, ReminderError> {
        unregister_reminder(self.runtime(), &ActorId::of::<A>(key), name).await
    }

    /// The reminders of actor `id`, by name.
    ///
    /// # Errors
    ///
    /// [`ReminderError::NotConfigured`] without a reminder table; the
    /// table's error.
    pub async fn reminders_of(&self, id: &ActorId) -> Result<Vec<Reminder>, ReminderError> {
        list_reminders(self.runtime(), id).await
    }

    /// How many reminders this node fires now (those of its slice of the
    /// ring).
    pub fn reminders_fired_here(&self) -> usize {
        self.inner.reminders.running()
    }
}
