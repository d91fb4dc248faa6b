//! The cluster's state in PostgreSQL (cargo feature `postgres`): one
//! [`Postgres`] handle per node — a small pool of connections, and the
//! cluster's schema, created and migrated when the first node connects —
//! shared by the backends built on it
//! ([`PostgresStorage`](crate::state::PostgresStorage) for actor state).
//!
//! These are production components: they talk to a real server over real
//! sockets, so they do not run inside the simulator. The simulator runs
//! the in-memory and file backends, and one conformance suite per table
//! trait ([`check_storage`](crate::state::conformance::check_storage))
//! holds every backend to the same contract.

mod config;
mod error;
mod schema;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moonpool_sim::Providers;

pub(crate) use config::quote_ident;
pub use config::{MAX_SCHEMA_BYTES, PostgresConfig, schema_for};
pub use error::PostgresError;

/// A node's connection to the cluster's database. Cheap to clone.
///
/// # Example
///
/// ```no_run
/// use moonpool_core::postgres::{Postgres, PostgresConfig};
/// use moonpool_core::state::PostgresStorage;
///
/// # async fn demo(providers: moonpool_sim::Providers) -> Result<(), Box<dyn std::error::Error>> {
/// let db = Postgres::connect(
///     providers,
///     PostgresConfig::new("postgres://postgres@127.0.0.1:5432/test", "bank"),
/// )
/// .await?;
/// let storage = PostgresStorage::new(&db);
/// # let _ = storage; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    pool: deadpool_postgres::Pool,
    providers: Providers,
    schema: String,
    timeout: Duration,
}

impl Postgres {
    /// Connects to the database and brings the cluster's schema to the
    /// version this library needs (creating it if missing; several nodes
    /// starting at once migrate it once).
    ///
    /// # Errors
    ///
    /// [`PostgresError::InvalidConfig`] for a configuration that cannot
    /// work; otherwise why the database could not be reached or migrated.
    pub async fn connect(
        providers: Providers,
        config: PostgresConfig,
    ) -> Result<Self, PostgresError> {
        let pg = config.check()?;
        let manager = deadpool_postgres::Manager::from_config(
            pg,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                // Checks a pooled connection is open before handing it
                // out; a broken one is replaced.
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(config.pool_size)
            .build()
            .map_err(|e| PostgresError::InvalidConfig {
                reason: e.to_string(),
            })?;
        let db = Self {
            inner: Arc::new(Inner {
                pool,
                providers,
                schema: config.schema,
                timeout: config.timeout,
            }),
        };
        db.within("connecting", async {
            let mut client = db.client("connecting").await?;
            schema::migrate(&mut client, &db.inner.schema).await
        })
        .await?;
        Ok(db)
    }

    /// The schema holding the cluster's tables.
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// `table` of the cluster's schema, quoted for SQL.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("{}.{}", quote_ident(&self.inner.schema), quote_ident(table))
    }

    /// A pooled connection.
    pub(crate) async fn client(
        &self,
        what: &'static str,
    ) -> Result<deadpool_postgres::Object, PostgresError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(PostgresError::pool(what))
    }

    /// Runs `op`, failing it with [`PostgresError::Timeout`] if it takes
    /// longer than the configured timeout.
    pub(crate) async fn within<T>(
        &self,
        what: &'static str,
        op: impl Future<Output = Result<T, PostgresError>>,
    ) -> Result<T, PostgresError> {
        let after = self.inner.timeout;
        match self.inner.providers.timeout(after, op).await {
            Ok(result) => result,
            Err(_) => Err(PostgresError::Timeout { what, after }),
        }
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("schema", &self.inner.schema)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}
