//! Reminders as an actor sees them: registering, replacing, removing and
//! listing its own (in the node's reminder table), and the tick as the
//! message its `on_reminder` hook handles. Firing them is the node's
//! reminder service (`node/reminders.rs`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moonpool_sim::WallTime;

use super::context::ActorContext;
use super::definition::{Actor, Handler, Message, method_id};
use super::erased::TickSchedule;
use super::runtime::Runtime;
use crate::id::ActorId;
use crate::reminder::{
    ReminderEntry, ReminderError, ReminderTable, ReminderTick, StoredReminder, check_name,
    check_schedule,
};

/// Tries of a registration or removal that keeps meeting a concurrent
/// change of the same row (the owner recording a delivery).
const ATTEMPTS: usize = 16;

impl Message for ReminderTick {
    type Reply = ();
    /// Not a Rust identifier, so no handler's name can be it.
    const NAME: &'static str = "moonpool.reminder";
}

/// The wire id of a reminder tick.
pub(crate) const TICK_METHOD: u32 = method_id(<ReminderTick as Message>::NAME);

/// Every actor handles its reminders' ticks, in its `on_reminder` hook —
/// once per due time per activation: a tick sent again because its sender
/// did not hear back (a timeout, a lost connection) is acknowledged
/// without running the hook again.
impl<A: Actor> Handler<ReminderTick> for A {
    fn handle(
        &mut self,
        tick: ReminderTick,
        ctx: &ActorContext,
    ) -> impl Future<Output = ()> + Send {
        let first = first_delivery(ctx, &tick);
        async move {
            if first {
                self.on_reminder(ctx, tick).await;
            }
        }
    }
}

/// Whether this activation has not handled `tick`'s due time (or a later
/// one of the same schedule) yet; notes it as handled. A schedule's ticks
/// are delivered in order of due time, so one not later than the latest
/// seen was delivered already. (A replaced schedule is another schedule:
/// its ticks still in flight must not hide the new one's.)
fn first_delivery(ctx: &ActorContext, tick: &ReminderTick) -> bool {
    ctx.info()
        .with_schedules(|schedules| first_of(&mut schedules.ticks, tick))
}

/// [`first_delivery`] over the ticks an activation has seen.
fn first_of(seen: &mut Vec<(TickSchedule, WallTime)>, tick: &ReminderTick) -> bool {
    let schedule = |s: &TickSchedule| {
        s.name == tick.name && s.first_due == tick.first_due && s.period == tick.period
    };
    match seen.iter_mut().find(|(s, _)| schedule(s)) {
        Some((_, latest)) if *latest >= tick.due => {
            moonpool_sim::sometimes!(
                true,
                "a tick sent again is not handled twice by one activation"
            );
            false
        }
        Some((_, latest)) => {
            *latest = tick.due;
            true
        }
        None => {
            // One schedule per name: the replaced one is forgotten.
            seen.retain(|(s, _)| s.name != tick.name);
            let s = TickSchedule {
                name: tick.name.clone(),
                first_due: tick.first_due,
                period: tick.period,
            };
            seen.push((s, tick.due));
            true
        }
    }
}

/// A registered reminder, as read from the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reminder {
    /// Its name.
    pub name: String,
    /// Its first due time.
    pub first_due: WallTime,
    /// The time between due times.
    pub period: Duration,
    /// The next due time to deliver.
    pub next_due: WallTime,
    /// The last due time delivered, if any.
    pub delivered_through: Option<WallTime>,
}

impl From<&ReminderEntry> for Reminder {
    fn from(e: &ReminderEntry) -> Self {
        Self {
            name: e.name.clone(),
            first_due: e.first_due,
            period: e.period,
            next_due: e.next_due(),
            delivered_through: e.delivered_through,
        }
    }
}

impl ActorContext {
    /// Registers (or replaces) this actor's reminder `name`: first due
    /// `due` from now, then every `period`, until unregistered — across
    /// deactivations, crashes and the loss of any node. Each due time
    /// reaches the actor's `on_reminder` hook at least once (see
    /// [`crate::reminder`]). Registering again under the same name
    /// replaces the schedule (its count of delivered ticks starts over).
    /// Times are kept to the millisecond.
    ///
    /// # Errors
    ///
    /// [`ReminderError::InvalidName`], [`ReminderError::InvalidPeriod`] or
    /// [`ReminderError::InvalidDue`] for a schedule outside the limits;
    /// [`ReminderError::NotConfigured`] when the node has no reminder
    /// table; the table's error when it cannot be written
    /// ([`ReminderError::Unavailable`]: the registration may or may not
    /// have landed — [`reminders`](Self::reminders) tells, and registering
    /// again is safe).
    ///
    /// # Example
    ///
    /// A whole actor with its hook, run in a simulation, is on the
    /// `moonpool` crate's `reminder` module; from a handler:
    ///
    /// ```
    /// use std::time::Duration;
    /// use moonpool::prelude::*;
    /// use moonpool::reminder::ReminderError;
    ///
    /// #[moonpool::actor]
    /// #[derive(Default)]
    /// pub struct Loan;
    ///
    /// #[moonpool::actor_impl]
    /// impl Loan {
    ///     /// Charges interest daily from a minute on.
    ///     pub async fn open(&self, ctx: &ActorContext) -> Result<(), ReminderError> {
    ///         let (due, daily) = (Duration::from_secs(60), Duration::from_secs(86_400));
    ///         ctx.register_reminder("interest", due, daily).await?;
    ///         Ok(())
    ///     }
    ///
    ///     async fn on_reminder(&mut self, _ctx: &ActorContext, _tick: ReminderTick) {}
    /// }
    /// # fn main() {}
    /// ```
    pub async fn register_reminder(
        &self,
        name: &str,
        due: Duration,
        period: Duration,
    ) -> Result<Reminder, ReminderError> {
        register(self.runtime(), self.id(), name, due, period).await
    }

    /// Removes this actor's reminder `name`; whether it existed. A tick
    /// already on its way may still arrive.
    ///
    /// # Errors
    ///
    /// [`ReminderError::NotConfigured`] when the node has no reminder
    /// table; the table's error when it cannot be written
    /// ([`ReminderError::Unavailable`]: the removal may or may not have
    /// landed — do not assume either; unregistering again is safe).
    pub async fn unregister_reminder(&self, name: &str) -> Result<bool, ReminderError> {
        unregister(self.runtime(), self.id(), name).await
    }

    /// This actor's reminders, by name.
    ///
    /// # Errors
    ///
    /// [`ReminderError::NotConfigured`] when the node has no reminder
    /// table; the table's error when it cannot be read.
    pub async fn reminders(&self) -> Result<Vec<Reminder>, ReminderError> {
        list(self.runtime(), self.id()).await
    }
}

/// A live runtime and its reminder table.
type RuntimeAndTable = (Arc<dyn Runtime>, Arc<dyn ReminderTable>);

/// The node's reminder table.
fn table(rt: Option<Arc<dyn Runtime>>) -> Result<RuntimeAndTable, ReminderError> {
    let rt = rt.ok_or(ReminderError::ShuttingDown)?;
    if rt.is_stopping() {
        return Err(ReminderError::ShuttingDown);
    }
    let table = rt.reminder_table().ok_or(ReminderError::NotConfigured)?;
    Ok((rt, table))
}

/// `d` cut to whole milliseconds (what tables keep).
fn whole_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Registers (or replaces) reminder `name` of `actor` through `rt`'s
/// table, and tells the reminder's owner.
pub(crate) async fn register(
    rt: Option<Arc<dyn Runtime>>,
    actor: &ActorId,
    name: &str,
    due: Duration,
    period: Duration,
) -> Result<Reminder, ReminderError> {
    check_name(name)?;
    check_schedule(due, period)?;
    let (rt, table) = table(rt)?;
    let entry = ReminderEntry {
        actor: actor.clone(),
        name: name.to_string(),
        first_due: rt.providers().wall_now() + whole_millis(due),
        period: whole_millis(period),
        delivered_through: None,
    };
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let current = table.read(actor, name).await?;
        match table.upsert(&entry, current.map(|r| r.etag)).await {
            Ok(_) => {
                rt.reminder_changed(actor.clone());
                return Ok(Reminder::from(&entry));
            }
            Err(conflict @ ReminderError::Conflict { .. }) => last = Some(conflict),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ReminderError::ShuttingDown))
}

/// Removes reminder `name` of `actor`; whether it existed.
pub(crate) async fn unregister(
    rt: Option<Arc<dyn Runtime>>,
    actor: &ActorId,
    name: &str,
) -> Result<bool, ReminderError> {
    let (rt, table) = table(rt)?;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let Some(StoredReminder { etag, .. }) = table.read(actor, name).await? else {
            return Ok(false);
        };
        match table.delete(actor, name, etag).await {
            Ok(()) => {
                rt.reminder_changed(actor.clone());
                return Ok(true);
            }
            Err(conflict @ ReminderError::Conflict { .. }) => last = Some(conflict),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(ReminderError::ShuttingDown))
}

/// The reminders of `actor`, by name.
pub(crate) async fn list(
    rt: Option<Arc<dyn Runtime>>,
    actor: &ActorId,
) -> Result<Vec<Reminder>, ReminderError> {
    let (_, table) = table(rt)?;
    let rows = table.read_actor(actor).await?;
    Ok(rows.iter().map(|r| Reminder::from(&r.entry)).collect())
}
