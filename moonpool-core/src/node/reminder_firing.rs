//! Firing reminders: the service's loop, which follows the ring and the
//! table and starts and stops a task per reminder of this node's slice
//! (the state it keeps is `reminders.rs`), and that task: wait for the
//! next due time on the wall clock, deliver the tick (trying again until
//! it reaches the actor), record it as delivered in the table, and go on
//! to the next.

use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{Instant, JoinHandle};
use tracing::Instrument as _;

use super::reminders::FULL_REFRESH;
use super::root::NodeInner;
use crate::actor::{CallError, Runtime};
use crate::id::ActorId;
use crate::reminder::{ReminderError, ReminderTable, ReminderTick, RingRange, StoredReminder};

/// Starts the task firing `row`.
fn fire(node: &Weak<NodeInner>, n: &NodeInner, row: StoredReminder) -> JoinHandle<()> {
    let name = format!("reminder:{}/{}", row.entry.actor, row.entry.name);
    let run = run(node.clone(), row).instrument(n.span.clone());
    n.providers.spawn_named(name, run)
}

/// The service's loop: follows the ring, re-reads what changed, and
/// stops every task when the node stops.
pub(crate) async fn keep(node: Weak<NodeInner>) {
    let mut last_full: Option<Instant> = None;
    // The ranges of the slice not read since it was last (re)started, and
    // whether that was a ring change.
    let mut unread: Vec<RingRange> = Vec::new();
    let mut after_ring_change = false;
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
        if ring_changed || (full_due && unread.is_empty()) {
            // What was noticed until now is covered by this read.
            reminders.take_noticed();
            // Stops the tasks of what this node no longer owns.
            reminders.set_slice(hosts, ranges.clone());
            unread = ranges;
            after_ring_change |= ring_changed;
            last_full = Some(now);
        }
        if !unread.is_empty() {
            let found = read_unread(&node, &n, &table, &mut unread).await;
            if unread.is_empty() && after_ring_change {
                after_ring_change = false;
                moonpool_sim::sometimes!(found > 0, "a ring change hands reminders to this node");
                tracing::debug!(node = %me, reminders = found, "reminder slice re-read after a ring change");
            }
        }
        let mut failed = Vec::new();
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
                    failed.push(actor);
                }
            }
        }
        // Tried again next round, not at once.
        for actor in failed {
            reminders.retry_later(actor);
        }
        let (p, interval) = (n.providers.clone(), n.config.probe_interval);
        let wake = n.reminders.wake();
        drop(n);
        // Wake at the next probe interval (a ring change shows by then),
        // or at once when told of a change.
        let _ = p.timeout(interval, wake.notified()).await;
    }
}

/// Reads the `unread` ranges of the slice and brings their tasks in line:
/// all at once, or, when that fails (a flaky table), range by range, so
/// that what can be read is; what could not stays in `unread` for the
/// next round. How many reminders were found.
async fn read_unread(
    node: &Weak<NodeInner>,
    n: &NodeInner,
    table: &Arc<dyn ReminderTable>,
    unread: &mut Vec<RingRange>,
) -> usize {
    let reminders = &n.reminders;
    let within = |ranges: &[RingRange], actor: &ActorId| {
        let p = actor.ring_position();
        ranges.iter().any(|r| r.contains(p))
    };
    match table.read_ranges(unread).await {
        Ok(rows) => {
            let found = rows.len();
            let ranges = std::mem::take(unread);
            reminders.reconcile(|a| within(&ranges, a), rows, |row| fire(node, n, row));
            return found;
        }
        Err(e) => {
            tracing::warn!(node = %n.node_id(), error = %e, "cannot read this node's reminders at once; reading them range by range");
        }
    }
    let mut found = 0;
    for range in std::mem::take(unread) {
        match table.read_range(range).await {
            Ok(rows) => {
                found += rows.len();
                reminders.reconcile(
                    |a| range.contains(a.ring_position()),
                    rows,
                    |row| fire(node, n, row),
                );
            }
            Err(_) => unread.push(range),
        }
    }
    found
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
        let tick = ReminderTick::at(&row.entry, due, n.providers.wall_now());
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
