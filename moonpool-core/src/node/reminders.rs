//! The reminder service's state: the reminders of this node's slice of
//! the ring, each fired by a task of its own. The table is the truth;
//! this service only mirrors the node's slice of it, re-read when the ring
//! changes, when told of a change, and every [`FULL_REFRESH`] in case a
//! notice was lost (the loop doing so and the tasks are
//! `reminder_firing.rs`).
//!
//! Locks: `owned` and `noticed` are never held while another lock is
//! taken, nor across an await.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::JoinHandle;

use crate::id::ActorId;
use crate::reminder::{ReminderEntry, ReminderTable, RingRange, StoredReminder};
use crate::sync::lock;
use crate::transport::NodeId;

/// How often the whole slice is read again even when nothing was said
/// to have changed (a notice of a registration can be lost with its
/// sender).
pub(crate) const FULL_REFRESH: Duration = Duration::from_secs(10);

/// One reminder this node fires.
struct Running {
    /// Its schedule when the task started (what a re-read compares).
    entry: ReminderEntry,
    task: JoinHandle<()>,
}

/// This node's slice and what runs in it.
#[derive(Default)]
struct Owned {
    /// The ring hosts the slice was computed for.
    hosts: Vec<NodeId>,
    ranges: Vec<RingRange>,
    running: BTreeMap<(ActorId, String), Running>,
}

impl Owned {
    fn owns(&self, actor: &ActorId) -> bool {
        let p = actor.ring_position();
        self.ranges.iter().any(|r| r.contains(p))
    }
}

/// The reminder service (see the module docs).
pub(crate) struct Reminders {
    table: Option<Arc<dyn ReminderTable>>,
    owned: Mutex<Owned>,
    /// Actors whose reminders changed, to re-read.
    noticed: Mutex<BTreeSet<ActorId>>,
    wake: Arc<tokio::sync::Notify>,
}

impl Reminders {
    pub(crate) fn new(table: Option<Arc<dyn ReminderTable>>) -> Self {
        Self {
            table,
            owned: Mutex::default(),
            noticed: Mutex::default(),
            wake: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The table, if the node has one.
    pub(crate) fn table(&self) -> Option<&Arc<dyn ReminderTable>> {
        self.table.as_ref()
    }

    /// The reminders of `actor` changed in the table: re-read them soon.
    pub(crate) fn notice(&self, actor: ActorId) {
        lock(&self.noticed).insert(actor);
        self.wake.notify_one();
    }

    /// Re-reads `actor`'s reminders at the next round, without waking the
    /// service now (a read that just failed is not tried again at once).
    pub(crate) fn retry_later(&self, actor: ActorId) {
        lock(&self.noticed).insert(actor);
    }

    /// Whether this node owns `actor`'s reminders (as of its last read of
    /// the ring).
    pub(crate) fn owns(&self, actor: &ActorId) -> bool {
        lock(&self.owned).owns(actor)
    }

    /// How many reminders this node fires.
    pub(crate) fn running(&self) -> usize {
        lock(&self.owned).running.len()
    }

    /// Stops every task (the node stops).
    pub(crate) fn stop_all(&self) {
        let running = std::mem::take(&mut lock(&self.owned).running);
        for r in running.into_values() {
            r.task.abort();
        }
    }

    /// Installs this node's slice of ring `hosts`, and stops the tasks of
    /// the reminders outside it.
    pub(crate) fn set_slice(&self, hosts: Vec<NodeId>, ranges: Vec<RingRange>) {
        let mut owned = lock(&self.owned);
        owned.hosts = hosts;
        owned.ranges = ranges;
        let gone: Vec<_> = owned
            .running
            .keys()
            .filter(|k| !owned.owns(&k.0))
            .cloned()
            .collect();
        for key in gone {
            if let Some(r) = owned.running.remove(&key) {
                r.task.abort();
            }
        }
    }

    /// Whether the slice was read for other ring hosts than `hosts`.
    pub(crate) fn ring_changed(&self, hosts: &[NodeId]) -> bool {
        lock(&self.owned).hosts != hosts
    }

    /// Takes the actors noticed since the last call.
    pub(crate) fn take_noticed(&self) -> BTreeSet<ActorId> {
        std::mem::take(&mut *lock(&self.noticed))
    }

    /// What wakes the service's loop.
    pub(crate) fn wake(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.wake)
    }

    /// Brings the tasks of the rows in `scope` in line with `rows` (what
    /// the table holds there): new rows start (`fire` starts a row's
    /// task), changed schedules restart, rows gone (or no longer owned)
    /// stop. Tasks outside `scope` are left alone.
    pub(crate) fn reconcile(
        &self,
        scope: impl Fn(&ActorId) -> bool,
        rows: Vec<StoredReminder>,
        fire: impl Fn(StoredReminder) -> JoinHandle<()>,
    ) {
        let mut owned = lock(&self.owned);
        let mut seen = BTreeSet::new();
        for row in rows {
            if !owned.owns(&row.entry.actor) {
                continue;
            }
            let key = (row.entry.actor.clone(), row.entry.name.clone());
            seen.insert(key.clone());
            if let Some(r) = owned.running.get(&key)
                && r.entry.same_schedule(&row.entry)
                && !r.task.is_finished()
            {
                continue;
            }
            if let Some(old) = owned.running.remove(&key) {
                old.task.abort();
            }
            let entry = row.entry.clone();
            let task = fire(row);
            owned.running.insert(key, Running { entry, task });
        }
        let gone: Vec<_> = owned
            .running
            .keys()
            .filter(|k| scope(&k.0) && !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(r) = owned.running.remove(&key) {
                r.task.abort();
            }
        }
    }
}
