//! Reminders in PostgreSQL: one row per reminder, indexed by ring
//! position, etags from the cluster's one sequence, every change one
//! conditional statement.

use std::sync::Arc;
use std::time::Duration;

use moonpool_sim::{BoxFuture, WallTime};
use tokio_postgres::Row;

use super::error::ReminderError;
use super::table::{ReminderEntry, ReminderTable, RingRange, StoredReminder, sorted};
use crate::id::ActorId;
use crate::postgres::{Postgres, PostgresError};
use crate::state::ETag;

/// A [`ReminderTable`] in the cluster's PostgreSQL schema: survives any
/// node, shared by all of them, and the choice for production.
///
/// Times and periods are kept to the millisecond. A change the database
/// did not confirm (it went down, or the timeout passed) is a
/// [`ReminderError::Unavailable`]: it may or may not have landed.
///
/// # Example
///
/// ```no_run
/// use moonpool_core::postgres::{Postgres, PostgresConfig};
/// use moonpool_core::reminder::{PostgresReminderTable, ReminderTable};
/// use moonpool_core::ActorId;
///
/// # async fn demo(providers: moonpool_sim::Providers) -> Result<(), Box<dyn std::error::Error>> {
/// let db = Postgres::connect(providers, PostgresConfig::new("postgres://127.0.0.1/test", "bank")).await?;
/// let table = PostgresReminderTable::new(&db);
/// let actor = ActorId { type_name: "Loan".into(), key: "7".into() };
/// println!("{} reminders", table.read_actor(&actor).await?.len());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresReminderTable {
    db: Postgres,
    sql: Arc<Statements>,
}

#[derive(Debug)]
struct Statements {
    read: String,
    read_actor: String,
    read_ranges: String,
    etag: String,
    insert: String,
    update: String,
    delete: String,
}

const COLUMNS: &str =
    "actor_type, actor_key, name, first_due_ms, period_ms, delivered_through_ms, etag";

impl PostgresReminderTable {
    /// The reminders of the cluster whose database `db` is.
    pub fn new(db: &Postgres) -> Self {
        let t = db.table("reminders");
        let key = "actor_type = $1 AND actor_key = $2 AND name = $3";
        Self {
            db: db.clone(),
            sql: Arc::new(Statements {
                read: format!("SELECT {COLUMNS} FROM {t} WHERE {key}"),
                read_actor: format!(
                    "SELECT {COLUMNS} FROM {t} WHERE actor_type = $1 AND actor_key = $2"
                ),
                read_ranges: format!(
                    "SELECT {COLUMNS} FROM {t}
                     JOIN unnest($1::bigint[], $2::bigint[]) AS r(lo, hi)
                       ON ring_position BETWEEN r.lo AND r.hi"
                ),
                etag: format!("SELECT etag FROM {t} WHERE {key}"),
                insert: format!(
                    "INSERT INTO {t} (actor_type, actor_key, name, ring_position, first_due_ms,
                         period_ms, delivered_through_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (actor_type, actor_key, name) DO NOTHING RETURNING etag"
                ),
                update: format!(
                    "UPDATE {t} SET first_due_ms = $4, period_ms = $5, delivered_through_ms = $6,
                         etag = DEFAULT, updated_at = now()
                     WHERE {key} AND etag = $7 RETURNING etag"
                ),
                delete: format!("DELETE FROM {t} WHERE {key} AND etag = $4"),
            }),
        }
    }

    /// Runs `query` with `params`, within the database timeout.
    async fn rows(
        &self,
        what: &'static str,
        query: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, ReminderError> {
        self.db
            .within(what, async {
                let client = self.db.client(what).await?;
                let stmt = client
                    .prepare_cached(query)
                    .await
                    .map_err(PostgresError::of(what))?;
                client
                    .query(&stmt, params)
                    .await
                    .map_err(PostgresError::of(what))
            })
            .await
            .map_err(|e| unavailable(what, &e))
    }

    /// The conflict of a conditional change of `actor`/`name` that matched
    /// no row.
    async fn conflict(&self, actor: &ActorId, name: &str, expected: Option<ETag>) -> ReminderError {
        let found = self
            .rows(
                "reading a reminder's etag",
                &self.sql.etag,
                &[&&*actor.type_name, &actor.key.as_bytes(), &name],
            )
            .await;
        match found {
            Ok(rows) => ReminderError::conflict(
                actor,
                name,
                expected,
                rows.first().map(|r| etag_of(r.get(0))),
            ),
            Err(e) => e,
        }
    }
}

fn unavailable(what: &str, e: &PostgresError) -> ReminderError {
    ReminderError::unavailable(what, e)
}

/// A ring position as the column stores it: order-preserving (the top bit
/// flipped), so a range of positions is a range of the column.
fn position_column(p: u64) -> i64 {
    i64::from_ne_bytes((p ^ (1 << 63)).to_ne_bytes())
}

/// Milliseconds as a column (saturating).
fn millis_column(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn duration_column(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn etag_of(value: i64) -> ETag {
    ETag(value.unsigned_abs())
}

fn etag_column(etag: ETag) -> i64 {
    i64::try_from(etag.0).unwrap_or(-1)
}

fn corrupt(what: impl std::fmt::Display) -> ReminderError {
    ReminderError::Corrupt {
        reason: what.to_string(),
    }
}

/// A stored row, decoded.
fn decode(row: &Row) -> Result<StoredReminder, ReminderError> {
    let type_name: String = row.get(0);
    let key: Vec<u8> = row.get(1);
    let key = String::from_utf8(key).map_err(|_| corrupt("an actor key is not UTF-8"))?;
    let non_negative = |v: i64, what: &str| {
        u64::try_from(v).map_err(|_| corrupt(format!("a reminder's {what} is negative ({v})")))
    };
    let delivered: Option<i64> = row.get(5);
    Ok(StoredReminder {
        entry: ReminderEntry {
            actor: ActorId {
                type_name: type_name.into(),
                key: key.into(),
            },
            name: row.get(2),
            first_due: WallTime::from_unix_millis(non_negative(row.get(3), "first due time")?),
            period: Duration::from_millis(non_negative(row.get(4), "period")?),
            delivered_through: match delivered {
                Some(v) => Some(WallTime::from_unix_millis(non_negative(
                    v,
                    "delivered-through time",
                )?)),
                None => None,
            },
        },
        etag: etag_of(row.get(6)),
    })
}

impl ReminderTable for PostgresReminderTable {
    fn read(
        &self,
        actor: &ActorId,
        name: &str,
    ) -> BoxFuture<'static, Result<Option<StoredReminder>, ReminderError>> {
        let (this, actor, name) = (self.clone(), actor.clone(), name.to_string());
        Box::pin(async move {
            let rows = this
                .rows(
                    "reading a reminder",
                    &this.sql.read,
                    &[&&*actor.type_name, &actor.key.as_bytes(), &name],
                )
                .await?;
            rows.first().map(decode).transpose()
        })
    }

    fn read_actor(
        &self,
        actor: &ActorId,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let (this, actor) = (self.clone(), actor.clone());
        Box::pin(async move {
            let rows = this
                .rows(
                    "reading an actor's reminders",
                    &this.sql.read_actor,
                    &[&&*actor.type_name, &actor.key.as_bytes()],
                )
                .await?;
            Ok(sorted(rows.iter().map(decode).collect::<Result<_, _>>()?))
        })
    }

    fn read_range(
        &self,
        range: RingRange,
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        self.read_ranges(&[range])
    }

    /// One statement for every range.
    fn read_ranges(
        &self,
        ranges: &[RingRange],
    ) -> BoxFuture<'static, Result<Vec<StoredReminder>, ReminderError>> {
        let this = self.clone();
        let segments: Vec<(u64, u64)> = ranges.iter().flat_map(RingRange::segments).collect();
        Box::pin(async move {
            let lows: Vec<i64> = segments.iter().map(|s| position_column(s.0)).collect();
            let highs: Vec<i64> = segments.iter().map(|s| position_column(s.1)).collect();
            let rows = this
                .rows(
                    "reading ranges of reminders",
                    &this.sql.read_ranges,
                    &[&lows, &highs],
                )
                .await?;
            Ok(sorted(rows.iter().map(decode).collect::<Result<_, _>>()?))
        })
    }

    fn upsert(
        &self,
        entry: &ReminderEntry,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, ReminderError>> {
        let (this, e) = (self.clone(), entry.clone());
        Box::pin(async move {
            let (t, k, n) = (&*e.actor.type_name, e.actor.key.as_bytes(), e.name.as_str());
            let first = millis_column(e.first_due.unix_millis());
            let period = duration_column(e.period);
            let delivered = e.delivered_through.map(|w| millis_column(w.unix_millis()));
            let rows = match expected {
                None => {
                    let position = position_column(e.actor.ring_position());
                    this.rows(
                        "creating a reminder",
                        &this.sql.insert,
                        &[&t, &k, &n, &position, &first, &period, &delivered],
                    )
                    .await?
                }
                Some(etag) => {
                    this.rows(
                        "updating a reminder",
                        &this.sql.update,
                        &[&t, &k, &n, &first, &period, &delivered, &etag_column(etag)],
                    )
                    .await?
                }
            };
            match rows.first() {
                Some(row) => Ok(etag_of(row.get(0))),
                None => Err(this.conflict(&e.actor, &e.name, expected).await),
            }
        })
    }

    fn delete(
        &self,
        actor: &ActorId,
        name: &str,
        expected: ETag,
    ) -> BoxFuture<'static, Result<(), ReminderError>> {
        let (this, actor, name) = (self.clone(), actor.clone(), name.to_string());
        Box::pin(async move {
            const WHAT: &str = "deleting a reminder";
            let deleted = this
                .db
                .within(WHAT, async {
                    let client = this.db.client(WHAT).await?;
                    let stmt = client
                        .prepare_cached(&this.sql.delete)
                        .await
                        .map_err(PostgresError::of(WHAT))?;
                    client
                        .execute(
                            &stmt,
                            &[
                                &&*actor.type_name,
                                &actor.key.as_bytes(),
                                &name,
                                &etag_column(expected),
                            ],
                        )
                        .await
                        .map_err(PostgresError::of(WHAT))
                })
                .await
                .map_err(|e| unavailable(WHAT, &e))?;
            if deleted == 1 {
                Ok(())
            } else {
                Err(this.conflict(&actor, &name, Some(expected)).await)
            }
        })
    }
}

#[cfg(test)]
#[test]
fn positions_keep_their_order_as_columns() {
    let ps = [0, 1, (1 << 63) - 1, 1 << 63, u64::MAX - 1, u64::MAX];
    for w in ps.windows(2) {
        assert!(position_column(w[0]) < position_column(w[1]), "{w:?}");
    }
}
