//! Actor state in PostgreSQL: one row per actor, its etag drawn from one
//! sequence (so an etag is never handed out twice, even to a record
//! cleared and created again), every write conditional in one statement.

use moonpool_sim::BoxFuture;

use super::storage::{ETag, Record, StateStorage, StorageError};
use crate::id::ActorId;
use crate::postgres::{Postgres, PostgresError};

/// A [`StateStorage`] in the cluster's PostgreSQL schema: survives any
/// node, shared by all of them.
///
/// A write is one conditional statement: it lands whole or not at all,
/// and a stale etag is a [`StorageError::Conflict`], never an overwrite. A
/// write the database did not confirm (it went down, or the timeout
/// passed) is a [`StorageError::Io`]: it may or may not have landed, and
/// [`Persisted`](super::Persisted) re-reads before trusting the state
/// again.
///
/// # Example
///
/// ```no_run
/// use moonpool_core::postgres::{Postgres, PostgresConfig};
/// use moonpool_core::state::{PostgresStorage, StateStorage};
/// use moonpool_core::ActorId;
///
/// # async fn demo(providers: moonpool_sim::Providers) -> Result<(), Box<dyn std::error::Error>> {
/// let db = Postgres::connect(providers, PostgresConfig::new("postgres://127.0.0.1/test", "bank")).await?;
/// let store = PostgresStorage::new(&db);
/// let id = ActorId { type_name: "Account".into(), key: "alice".into() };
/// let etag = store.write(&id, b"10".to_vec(), None).await?;
/// assert_eq!(store.read(&id).await?, Some((b"10".to_vec(), etag)));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct PostgresStorage {
    db: Postgres,
    sql: std::sync::Arc<Statements>,
}

#[derive(Debug)]
struct Statements {
    read: String,
    insert: String,
    update: String,
    delete: String,
}

impl PostgresStorage {
    /// The actor state of the cluster whose database `db` is.
    pub fn new(db: &Postgres) -> Self {
        let t = db.table("actor_state");
        let key = "actor_type = $1 AND actor_key = $2";
        Self {
            db: db.clone(),
            sql: std::sync::Arc::new(Statements {
                read: format!("SELECT payload, etag FROM {t} WHERE {key}"),
                insert: format!(
                    "INSERT INTO {t} (actor_type, actor_key, payload) VALUES ($1, $2, $3)
                     ON CONFLICT (actor_type, actor_key) DO NOTHING RETURNING etag"
                ),
                update: format!(
                    "UPDATE {t} SET payload = $3, etag = DEFAULT, updated_at = now()
                     WHERE {key} AND etag = $4 RETURNING etag"
                ),
                delete: format!("DELETE FROM {t} WHERE {key} AND etag = $3"),
            }),
        }
    }

    /// The record of `id`.
    async fn fetch(
        &self,
        id: &ActorId,
        what: &'static str,
    ) -> Result<Option<Record>, PostgresError> {
        let client = self.db.client(what).await?;
        let stmt = client
            .prepare_cached(&self.sql.read)
            .await
            .map_err(PostgresError::of(what))?;
        let row = client
            .query_opt(&stmt, &[&&*id.type_name, &id.key.as_bytes()])
            .await
            .map_err(PostgresError::of(what))?;
        Ok(row.map(|r| (r.get::<_, Vec<u8>>(0), etag_of(r.get(1)))))
    }

    /// The conflict of a conditional change that matched no row.
    async fn conflict(&self, id: &ActorId, expected: Option<ETag>) -> StorageError {
        match self
            .db
            .within("reading a record", self.fetch(id, "reading a record"))
            .await
        {
            Ok(found) => StorageError::conflict(id, expected, found.map(|(_, e)| e)),
            Err(e) => io(id, &e),
        }
    }
}

/// The etag of a sequence value (always positive).
fn etag_of(value: i64) -> ETag {
    ETag(value.unsigned_abs())
}

/// An etag as the column stores it (one no sequence value matches if it
/// does not fit).
fn column(etag: ETag) -> i64 {
    i64::try_from(etag.0).unwrap_or(-1)
}

fn io(id: &ActorId, e: &PostgresError) -> StorageError {
    StorageError::io(id, e)
}

impl StateStorage for PostgresStorage {
    fn read(&self, id: &ActorId) -> BoxFuture<'static, Result<Option<Record>, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            const WHAT: &str = "reading a record";
            this.db
                .within(WHAT, this.fetch(&id, WHAT))
                .await
                .map_err(|e| io(&id, &e))
        })
    }

    fn write(
        &self,
        id: &ActorId,
        data: Vec<u8>,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<ETag, StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            const WHAT: &str = "writing a record";
            let written = this
                .db
                .within(WHAT, async {
                    let client = this.db.client(WHAT).await?;
                    let err = PostgresError::of(WHAT);
                    let (t, k) = (&*id.type_name, id.key.as_bytes());
                    let row = match expected {
                        None => {
                            let stmt = client
                                .prepare_cached(&this.sql.insert)
                                .await
                                .map_err(&err)?;
                            client.query_opt(&stmt, &[&t, &k, &data]).await
                        }
                        Some(etag) => {
                            let stmt = client
                                .prepare_cached(&this.sql.update)
                                .await
                                .map_err(&err)?;
                            client
                                .query_opt(&stmt, &[&t, &k, &data, &column(etag)])
                                .await
                        }
                    };
                    Ok(row.map_err(&err)?.map(|r| etag_of(r.get(0))))
                })
                .await
                .map_err(|e| io(&id, &e))?;
            match written {
                Some(etag) => Ok(etag),
                None => Err(this.conflict(&id, expected).await),
            }
        })
    }

    fn clear(
        &self,
        id: &ActorId,
        expected: Option<ETag>,
    ) -> BoxFuture<'static, Result<(), StorageError>> {
        let (this, id) = (self.clone(), id.clone());
        Box::pin(async move {
            const WHAT: &str = "clearing a record";
            let Some(etag) = expected else {
                // Clearing what must not exist: nothing to do, unless it
                // does.
                let found = this
                    .db
                    .within(WHAT, this.fetch(&id, WHAT))
                    .await
                    .map_err(|e| io(&id, &e))?;
                return match found {
                    None => Ok(()),
                    Some((_, actual)) => Err(StorageError::conflict(&id, expected, Some(actual))),
                };
            };
            let deleted = this
                .db
                .within(WHAT, async {
                    let client = this.db.client(WHAT).await?;
                    let err = PostgresError::of(WHAT);
                    let stmt = client
                        .prepare_cached(&this.sql.delete)
                        .await
                        .map_err(&err)?;
                    let (t, k) = (&*id.type_name, id.key.as_bytes());
                    client
                        .execute(&stmt, &[&t, &k, &column(etag)])
                        .await
                        .map_err(&err)
                })
                .await
                .map_err(|e| io(&id, &e))?;
            if deleted == 1 {
                Ok(())
            } else {
                Err(this.conflict(&id, expected).await)
            }
        })
    }
}
