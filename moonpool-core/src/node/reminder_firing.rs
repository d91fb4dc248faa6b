//! Firing reminders: the service's loop, which follows the ring and the
//! table and starts and stops a task per reminder of this node's slice
//! (the state it keeps is `reminders.rs`), and that task: wait for the
//! next due time on the wall clock, deliver the tick (trying again until
//! it reaches the actor), record it as delivered in the table, and go on
//! to the next.

use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{Instant, JoinHandle};

use super::reminders::FULL_REFRESH;
use super::root::NodeInner;
use crate::actor::{CallError, Runtime};
use crate::reminder::{ReminderError, ReminderTable, ReminderTick, RingRange, StoredReminder};

/// Reads every range of `ranges` from `table`.
async fn read_slice(
    table: &Arc<dyn ReminderTable>,
    ranges: &[RingRange],
) -> Result<Vec<StoredReminder>, ReminderError> {
    let mut rows = Vec::new();
    for r in ranges {
        rows.extend(table.read_range(*r).await?);
    }
    Ok(rows)
}

/// Starts the task firing `row`.
fn fire(node: &Weak<NodeInner>, n: &NodeInner, row: StoredReminder) -> JoinHandle<()> {
    let name = format!("reminder:{}/{}", row.entry.actor, row.entry.name);
    n.providers.spawn_named(name, run(node.clone(), row))
}

/// The service's loop: follows the ring, re-reads what changed, and
/// stops every task when the node stops.
pub(crate) async fn keep(node: Weak<NodeInner>) {
    let mut last_full: Option<Instant> = None;
    loop {
        let Some(n) = node.upgrade() else { return };
        let reminders = &n.reminders;
        let Some(table) = reminders.table().cloned() else {
            return;
        };
        if n.host.is_stopping() {
            reminders.stop_all();
            return;
        }
        let me = n.node_id();
        let (hosts, ranges) = n
            .cluster
            .with_view(|v| (v.ring_hosts(), v.ring.ranges_of(me)));
        let now = n.providers.now();
        let ring_changed = reminders.ring_changed(&hosts);
        let full_due = last_full.is_none_or(|at| now - at >= FULL_REFRESH);
        if ring_changed || full_due {
            // What was noticed until now is covered by this read.
            reminders.take_noticed();
            match read_slice(&table, &ranges).await {
                Ok(rows) => {
                    reminders.set_slice(hosts, ranges);
                    let count = rows.len();
                    reminders.reconcile(|_| true, rows, |row| fire(&node, &n, row));
                    last_full = Some(now);
                    if ring_changed {
                        moonpool_sim::sometimes!(
                            count > 0,
                            "a ring change hands reminders to this node"
                        );
                        tracing::debug!(node = %me, reminders = count, "reminder slice re-read after a ring change");
                    }
                }
                Err(e) => {
                    tracing::warn!(node = %me, error = %e, "cannot read this node's reminders; trying again");
                }
            }
        } else {
            for actor in reminders.take_noticed() {
                if !reminders.owns(&actor) {
                    continue;
                }
                match table.read_actor(&actor).await {
                    Ok(rows) => {
                        reminders.reconcile(|a| *a == actor, rows, |row| fire(&node, &n, row));
                    }
                    Err(e) => {
                        tracing::warn!(actor = %actor, error = %e, "cannot read an actor's reminders; trying again");
                        reminders.notice(actor);
                    }
                }
            }
        }
        let (p, interval) = (n.providers.clone(), n.config.probe_interval);
        let wake = n.reminders.wake();
        drop(n);
        // Wake at the next probe interval (a ring change shows by then),
        // or at once when told of a change.
        let _ = p.timeout(interval, wake.notified()).await;
    }
}

/// The pause before trying a tick again after the `n`-th failure in a row
/// (from 1): short at first (the actor was moving), up to a second.
fn retry_pause(n: u32) -> Duration {
    Duration::from_millis(50u64 << n.saturating_sub(1).min(4)).min(Duration::from_secs(1))
}

/// Whether a failed tick reached the actor's hook (it ran, and failed):
/// it counts as delivered. Anything else is tried again.
fn ran(e: &CallError) -> bool {
    matches!(e, CallError::HandlerPanicked { .. })
}

/// What recording a delivered tick found.
enum Recorded {
    /// Recorded (or the table was unreachable: recorded later).
    Continue,
    /// The reminder was removed or replaced: this task ends.
    Gone,
}

/// Fires `row` until the reminder is removed or replaced, the service
/// aborts the task, or the node goes.
pub(crate) async fn run(node: Weak<NodeInner>, mut row: StoredReminder) {
    loop {
        let due = row.entry.next_due();
        // Wait for the due time on the wall clock (which may step: check
        // again after each sleep).
        loop {
            let Some(n) = node.upgrade() else { return };
            let now = n.providers.wall_now();
            if now >= due {
                break;
            }
            let p = Arc::clone(&n.providers);
            drop(n);
            p.sleep(due - now).await;
        }
        if !deliver(&node, &row, due).await {
            return;
        }
        row.entry.delivered_through = Some(due);
        match record(&node, &mut row).await {
            Some(Recorded::Continue) => {}
            Some(Recorded::Gone) | None => return,
        }
    }
}

/// Delivers the tick of `due`, trying again until it reached the actor;
/// `false` if the node went first.
async fn deliver(
    node: &Weak<NodeInner>,
    row: &StoredReminder,
    due: moonpool_sim::WallTime,
) -> bool {
    let actor = &row.entry.actor;
    let mut failures = 0u32;
    loop {
        let Some(n) = node.upgrade() else {
            return false;
        };
        if n.host.is_stopping() {
            return false;
        }
        let tick = ReminderTick::at(
            row.entry.name.clone(),
            due,
            row.entry.period,
            n.providers.wall_now(),
        );
        if tick.is_late() {
            moonpool_sim::sometimes!(true, "a reminder tick is delivered late");
        }
        let delivered = match n.host.factory(&actor.type_name) {
            Some(factory) => {
                let rt: Arc<dyn Runtime> = Arc::clone(&n) as Arc<dyn Runtime>;
                factory.deliver_tick(rt, actor.clone(), tick).await
            }
            None => Err(CallError::UnknownActorType {
                actor_type: actor.type_name.to_string(),
            }),
        };
        match delivered {
            Ok(()) => return true,
            Err(e) if ran(&e) => {
                tracing::warn!(actor = %actor, reminder = %row.entry.name, %due, error = %e, "a reminder's handler failed; the reminder stays");
                return true;
            }
            Err(e) => {
                failures += 1;
                if failures == 3 {
                    tracing::warn!(actor = %actor, reminder = %row.entry.name, %due, error = %e, "a reminder tick cannot reach its actor; still trying");
                }
                let p = Arc::clone(&n.providers);
                drop(n);
                p.sleep(retry_pause(failures)).await;
            }
        }
    }
}

/// Records `row` (its delivered-through time just advanced) in the table.
/// `None` if the node went.
async fn record(node: &Weak<NodeInner>, row: &mut StoredReminder) -> Option<Recorded> {
    let table = {
        let n = node.upgrade()?;
        Arc::clone(n.reminders.table()?)
    };
    // A conflict is someone else's change: adopt it and try again (a few
    // times; each lost race means the row moved on).
    for _ in 0..8 {
        match table.upsert(&row.entry, Some(row.etag)).await {
            Ok(etag) => {
                row.etag = etag;
                return Some(Recorded::Continue);
            }
            Err(ReminderError::Conflict { .. }) => {}
            Err(e) => {
                // Unknown whether it landed: the next record finds out
                // (a conflict, then a re-read). Ticks go on meanwhile.
                tracing::debug!(actor = %row.entry.actor, reminder = %row.entry.name, error = %e, "cannot record a delivered tick yet");
                return Some(Recorded::Continue);
            }
        }
        let fresh = match table.read(&row.entry.actor, &row.entry.name).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::debug!(actor = %row.entry.actor, reminder = %row.entry.name, error = %e, "cannot re-read a reminder yet");
                return Some(Recorded::Continue);
            }
        };
        match fresh {
            Some(fresh) if fresh.entry.same_schedule(&row.entry) => {
                // Another owner (during a ring change) may have gone
                // further: keep the later of the two.
                row.entry.delivered_through = row
                    .entry
                    .delivered_through
                    .max(fresh.entry.delivered_through);
                row.etag = fresh.etag;
            }
            _ => {
                // Removed or replaced: the service starts the new one.
                if let Some(n) = node.upgrade() {
                    n.reminders.notice(row.entry.actor.clone());
                }
                return Some(Recorded::Gone);
            }
        }
    }
    Some(Recorded::Continue)
}
