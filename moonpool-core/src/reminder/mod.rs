//! Durable reminders: wake an actor on a schedule, across crashes,
//! deactivation and node loss.
//!
//! A reminder is a row in a [`ReminderTable`] (the truth: no node's
//! memory is): an actor, a name, a first due time and a period, and the
//! last due time whose tick was delivered. Every hosting node runs a
//! reminder service that owns the reminders of its slice of the hash ring
//! (the actors whose directory entries it keeps), reads that slice from
//! the table when the ring changes, and fires each due time as a call to
//! the actor's `on_reminder` hook, activating it if need be.
//!
//! **Semantics.**
//! - *At least once per due time.* A tick is recorded as delivered after
//!   the hook ran; a node that dies in between leaves it to the next
//!   owner, which delivers it again. The tick carries its due time so a
//!   handler can de-duplicate.
//! - *Missed ticks are delivered late, once each.* When the owner was down,
//!   the new owner delivers every due time that passed, in order, marked
//!   [`TickStatus::Late`]; none is dropped, none multiplied.
//! - *A failing tick does not unregister.* A hook that panics (or an actor
//!   that fails to activate) counts as delivered; the reminder stays.
//!   A tick that could not reach its actor is tried again.
//! - Registering again under the same name replaces the schedule.
//!
//! Actors use reminders through their context
//! ([`ActorContext::register_reminder`](crate::actor::ActorContext::register_reminder));
//! a node is given a table with `NodeBuilder::reminders`.

pub mod conformance;
mod error;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod storage_table;
mod table;
mod tick;

pub use error::{
    MAX_NAME_BYTES, MAX_PERIOD, MIN_PERIOD, ReminderError, check_name, check_schedule,
};
pub use memory::InMemoryReminderTable;
#[cfg(feature = "postgres")]
pub use postgres::PostgresReminderTable;
pub use storage_table::{BUCKET_TYPE, StorageReminderTable};
pub use table::{ReminderEntry, ReminderTable, RingRange, StoredReminder};
pub use tick::{LATE_AFTER, ReminderTick, TickStatus};
