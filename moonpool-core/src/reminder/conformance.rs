//! The contract every [`ReminderTable`] keeps, as a suite a backend runs:
//! [`check_reminder_table`]. Moonpool runs it against each of its backends
//! (memory, storage-backed on memory and on disk, PostgreSQL); run it
//! against your own.

use std::time::Duration;

use moonpool_sim::{BoxFuture, WallTime};

use super::error::{MAX_NAME_BYTES, ReminderError};
use super::table::{ReminderEntry, ReminderTable, RingRange, StoredReminder};
use crate::id::ActorId;
use crate::state::ETag;
use crate::state::conformance::JoinAll;
pub use crate::state::conformance::Violation;

/// Checks `table` against the reminder table contract: conditional
/// creates, updates and deletes, conflicts naming both etags, etags never
/// reused for a row, every field kept as written, reads by actor and by
/// ring range (wrapping ranges included; a cut of the ring into ranges
/// finds every row exactly once), and `racers` writers racing on one etag
/// of which exactly one wins. Rows are written for actor type
/// `type_name` and removed at the end (use one per run against a table
/// that outlives it).
///
/// # Errors
///
/// The first [`Violation`].
///
/// # Example
///
/// ```
/// use moonpool_core::reminder::{InMemoryReminderTable, conformance::check_reminder_table};
///
/// moonpool_sim::Simulation::new(1).run(|_| async {
///     check_reminder_table(&InMemoryReminderTable::new(), "Conformance", 8).await.unwrap();
/// }).unwrap();
/// ```
pub async fn check_reminder_table(
    table: &dyn ReminderTable,
    type_name: &str,
    racers: usize,
) -> Result<(), Violation> {
    let id = |key: &str| ActorId {
        type_name: type_name.to_string().into(),
        key: key.into(),
    };
    lifecycle(table, &id("lifecycle")).await?;
    no_reuse(table, &id("reuse")).await?;
    fields(table, &id("fields \u{1F600}/ключ")).await?;
    by_actor(table, type_name).await?;
    ranges(table, type_name).await?;
    race(table, &id("race"), racers.max(2)).await?;
    Ok(())
}

fn broke(case: &'static str, detail: impl std::fmt::Display) -> Violation {
    Violation {
        case,
        detail: detail.to_string(),
    }
}

fn ok<T>(case: &'static str, r: Result<T, ReminderError>) -> Result<T, Violation> {
    r.map_err(|e| broke(case, format!("failed: {e}")))
}

fn entry(actor: &ActorId, name: &str, seconds: u64) -> ReminderEntry {
    ReminderEntry {
        actor: actor.clone(),
        name: name.to_string(),
        first_due: WallTime::SIMULATION_EPOCH + Duration::from_secs(seconds),
        period: Duration::from_secs(60),
        delivered_through: None,
    }
}

fn expect_conflict<T: std::fmt::Debug>(
    case: &'static str,
    got: Result<T, ReminderError>,
    expected: Option<ETag>,
    actual: Option<ETag>,
) -> Result<(), Violation> {
    match got {
        Err(ReminderError::Conflict {
            expected: e,
            actual: a,
            ..
        }) if e == expected && a == actual => Ok(()),
        other => Err(broke(
            case,
            format!("expected a conflict (expected {expected:?}, found {actual:?}), got {other:?}"),
        )),
    }
}

async fn expect_read(
    table: &dyn ReminderTable,
    case: &'static str,
    actor: &ActorId,
    name: &str,
    want: Option<(&ReminderEntry, ETag)>,
) -> Result<(), Violation> {
    let got = ok(case, table.read(actor, name).await)?;
    let got_ref = got.as_ref().map(|r| (&r.entry, r.etag));
    if got_ref == want {
        Ok(())
    } else {
        Err(broke(case, format!("read {got:?}, expected {want:?}")))
    }
}

async fn lifecycle(table: &dyn ReminderTable, actor: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "create, update, delete";
    expect_read(table, "a missing reminder reads as none", actor, "r", None).await?;
    let one = entry(actor, "r", 1);
    let e1 = ok(CASE, table.upsert(&one, None).await)?;
    expect_read(table, CASE, actor, "r", Some((&one, e1))).await?;
    expect_conflict(
        "a create over an existing reminder",
        table.upsert(&one, None).await,
        None,
        Some(e1),
    )?;
    let mut two = one.clone();
    two.delivered_through = Some(two.first_due);
    let e2 = ok(CASE, table.upsert(&two, Some(e1)).await)?;
    if e2 == e1 {
        return Err(broke(CASE, format!("an update kept the etag {e1}")));
    }
    expect_conflict(
        "an update with a stale etag",
        table.upsert(&one, Some(e1)).await,
        Some(e1),
        Some(e2),
    )?;
    expect_conflict(
        "a delete with a stale etag",
        table.delete(actor, "r", e1).await,
        Some(e1),
        Some(e2),
    )?;
    expect_read(
        table,
        "a refused change changes nothing",
        actor,
        "r",
        Some((&two, e2)),
    )
    .await?;
    ok(CASE, table.delete(actor, "r", e2).await)?;
    expect_read(table, "a deleted reminder reads as none", actor, "r", None).await?;
    expect_conflict(
        "a delete of a deleted reminder",
        table.delete(actor, "r", e2).await,
        Some(e2),
        None,
    )?;
    expect_conflict(
        "an update of a deleted reminder",
        table.upsert(&two, Some(e2)).await,
        Some(e2),
        None,
    )
}

/// A row deleted and created again never gets an etag it had.
async fn no_reuse(table: &dyn ReminderTable, actor: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "etags are never reused for a row";
    let mut seen = Vec::new();
    for round in 0..3 {
        let mut row = entry(actor, "r", round);
        let mut etag = ok(CASE, table.upsert(&row, None).await)?;
        seen.push(etag);
        row.delivered_through = Some(row.first_due);
        etag = ok(CASE, table.upsert(&row, Some(etag)).await)?;
        seen.push(etag);
        ok(CASE, table.delete(actor, "r", etag).await)?;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != seen.len() {
        return Err(broke(CASE, format!("etags handed out: {seen:?}")));
    }
    let fresh = ok(CASE, table.upsert(&entry(actor, "r", 9), None).await)?;
    for old in seen {
        expect_conflict(
            CASE,
            table.upsert(&entry(actor, "r", 10), Some(old)).await,
            Some(old),
            Some(fresh),
        )?;
    }
    ok(CASE, table.delete(actor, "r", fresh).await)
}

/// Every field comes back as written: long and unusual names, extreme
/// times and periods, a delivered-through time or none.
async fn fields(table: &dyn ReminderTable, actor: &ActorId) -> Result<(), Violation> {
    const CASE: &str = "every field is kept as written";
    let long = "n".repeat(MAX_NAME_BYTES);
    let cases = [
        ReminderEntry {
            actor: actor.clone(),
            name: long,
            first_due: WallTime::UNIX_EPOCH,
            period: Duration::from_secs(1),
            delivered_through: None,
        },
        ReminderEntry {
            actor: actor.clone(),
            name: "ünïcode \u{1F600} 'quotes' \"and\" \\slashes".into(),
            first_due: WallTime::from_unix_millis(i64::MAX as u64),
            period: Duration::from_millis(366 * 86_400_000 + 1),
            delivered_through: Some(WallTime::from_unix_millis(4_102_444_800_123)),
        },
    ];
    for row in &cases {
        let etag = ok(CASE, table.upsert(row, None).await)?;
        expect_read(table, CASE, actor, &row.name, Some((row, etag))).await?;
        ok(CASE, table.delete(actor, &row.name, etag).await)?;
    }
    Ok(())
}

/// Reading by actor finds that actor's rows, by name, and no other's.
async fn by_actor(table: &dyn ReminderTable, type_name: &str) -> Result<(), Violation> {
    const CASE: &str = "reading by actor finds its rows only";
    let actor = |key: &str| ActorId {
        type_name: type_name.to_string().into(),
        key: key.into(),
    };
    let (a, b) = (actor("by-actor a"), actor("by-actor b"));
    let mut written = Vec::new();
    for name in ["z", "a", "m"] {
        written.push((
            a.clone(),
            name,
            ok(CASE, table.upsert(&entry(&a, name, 1), None).await)?,
        ));
    }
    written.push((
        b.clone(),
        "a",
        ok(CASE, table.upsert(&entry(&b, "a", 1), None).await)?,
    ));
    let rows = ok(CASE, table.read_actor(&a).await)?;
    let names: Vec<&str> = rows.iter().map(|r| r.entry.name.as_str()).collect();
    if names != ["a", "m", "z"] || rows.iter().any(|r| r.entry.actor != a) {
        return Err(broke(CASE, format!("read {rows:?}")));
    }
    if !ok(CASE, table.read_actor(&actor("by-actor none")).await)?.is_empty() {
        return Err(broke(CASE, "an actor without reminders has some"));
    }
    for (actor, name, etag) in written {
        ok(CASE, table.delete(&actor, name, etag).await)?;
    }
    Ok(())
}

/// Reading by ring range: each row where its position says, every row of
/// a cut of the ring exactly once, ordered by actor and name.
async fn ranges(table: &dyn ReminderTable, type_name: &str) -> Result<(), Violation> {
    const CASE: &str = "reading by ring range";
    let mut written = Vec::new();
    for k in 0..48 {
        let actor = ActorId {
            type_name: type_name.to_string().into(),
            key: format!("range {k}").into(),
        };
        for name in ["x", "y"] {
            let etag = ok(CASE, table.upsert(&entry(&actor, name, k), None).await)?;
            written.push(StoredReminder {
                entry: entry(&actor, name, k),
                etag,
            });
        }
    }
    let mine = |rows: Vec<StoredReminder>| -> Vec<StoredReminder> {
        rows.into_iter()
            .filter(|r| {
                r.entry.actor.type_name == type_name && r.entry.actor.key.starts_with("range ")
            })
            .collect()
    };
    let mut all = written.clone();
    all.sort_by(|a, b| (&a.entry.actor, &a.entry.name).cmp(&(&b.entry.actor, &b.entry.name)));
    let whole = mine(ok(CASE, table.read_range(RingRange::WHOLE).await)?);
    if whole != all {
        return Err(broke(
            CASE,
            format!(
                "the whole ring read {} of {} rows, or out of order",
                whole.len(),
                all.len()
            ),
        ));
    }
    // Cut the ring at points taken from the rows themselves (so ranges
    // end exactly on a row) and at the ends of the number line.
    let mut cuts: Vec<u64> = written
        .iter()
        .step_by(7)
        .map(|r| r.entry.actor.ring_position())
        .chain([0, u64::MAX, 1 << 63])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut found = Vec::new();
    for (i, &through) in cuts.iter().enumerate() {
        let after = cuts[(i + cuts.len() - 1) % cuts.len()];
        let range = RingRange { after, through };
        let rows = mine(ok(CASE, table.read_range(range).await)?);
        let sorted = rows
            .windows(2)
            .all(|w| (&w[0].entry.actor, &w[0].entry.name) < (&w[1].entry.actor, &w[1].entry.name));
        if !sorted {
            return Err(broke(
                CASE,
                format!("range {range} is not ordered by actor and name"),
            ));
        }
        if let Some(r) = rows
            .iter()
            .find(|r| !range.contains(r.entry.actor.ring_position()))
        {
            return Err(broke(
                CASE,
                format!(
                    "range {range} returned {} at {:#x}",
                    r.entry.actor,
                    r.entry.actor.ring_position()
                ),
            ));
        }
        found.extend(rows);
    }
    found.sort_by(|a, b| (&a.entry.actor, &a.entry.name).cmp(&(&b.entry.actor, &b.entry.name)));
    if found != all {
        return Err(broke(
            CASE,
            format!(
                "a cut of the ring into {} ranges found {} rows of {}",
                cuts.len(),
                found.len(),
                all.len()
            ),
        ));
    }
    for r in written {
        ok(
            CASE,
            table.delete(&r.entry.actor, &r.entry.name, r.etag).await,
        )?;
    }
    Ok(())
}

/// `racers` writers race on one etag: exactly one wins.
async fn race(table: &dyn ReminderTable, actor: &ActorId, racers: usize) -> Result<(), Violation> {
    const CASE: &str = "writers racing on one etag: exactly one wins";
    let base = ok(CASE, table.upsert(&entry(actor, "r", 0), None).await)?;
    let writes: Vec<BoxFuture<'static, Result<ETag, ReminderError>>> = (0..racers)
        .map(|i| table.upsert(&entry(actor, "r", i as u64 + 1), Some(base)))
        .collect();
    let results = JoinAll::new(writes).await;
    let mut winner = None;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(etag) if winner.is_none() => winner = Some((i, *etag)),
            Ok(_) => return Err(broke(CASE, format!("two writers won: {results:?}"))),
            Err(ReminderError::Conflict { expected, .. }) if *expected == Some(base) => {}
            Err(e) => return Err(broke(CASE, format!("a racer failed otherwise: {e}"))),
        }
    }
    let Some((i, etag)) = winner else {
        return Err(broke(CASE, format!("no writer won: {results:?}")));
    };
    let want = entry(actor, "r", i as u64 + 1);
    expect_read(table, CASE, actor, "r", Some((&want, etag))).await?;
    ok(CASE, table.delete(actor, "r", etag).await)
}
