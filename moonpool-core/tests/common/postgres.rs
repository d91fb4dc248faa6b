// PostgreSQL for the tests (included by the test files that need it): the
// server named by `MOONPOOL_POSTGRES_URL`, a fresh schema per test,
// dropped after it.

use std::future::Future;
use std::io::Write;

use moonpool_core::postgres::{Postgres, PostgresConfig};

/// The variable naming the test database.
pub const URL_VAR: &str = "MOONPOOL_POSTGRES_URL";

/// The test database's URL; when the variable is unset, says once how to
/// set it and returns `None` (the test is skipped).
pub fn postgres_url() -> Option<String> {
    static SAID: std::sync::Once = std::sync::Once::new();
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            SAID.call_once(|| {
                // Past the test harness's capture, so it shows.
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: the PostgreSQL tests need {URL_VAR}=postgres://user@host:port/database \
                     (.ci/run sets it up; `bash .ci/run` or see README, Testing guide)"
                );
            });
            None
        }
    }
}

/// Runs `test` on a tokio runtime with a connection to a fresh schema,
/// then drops the schema (also when the test panics).
pub fn with_schema<F, Fut>(url: &str, tag: &str, test: F)
where
    F: FnOnce(Postgres) -> Fut,
    Fut: Future<Output = ()>,
{
    with_config(url, tag, |c| c, test);
}

/// [`with_schema`], with the connection's configuration adjusted by
/// `configure`.
pub fn with_config<F, Fut>(
    url: &str,
    tag: &str,
    configure: impl FnOnce(PostgresConfig) -> PostgresConfig,
    test: F,
) where
    F: FnOnce(Postgres) -> Fut,
    Fut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let schema = scratch_schema(tag);
    let _drop = DropSchema {
        url: url.to_string(),
        schema: schema.clone(),
    };
    runtime.block_on(async {
        let providers = moonpool_sim::Providers::tokio().unwrap();
        let config = configure(PostgresConfig::new(url, "tests").schema(schema));
        let db = Postgres::connect(providers, config).await.unwrap();
        test(db).await;
    });
}

/// A schema name no other test run uses.
pub fn scratch_schema(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("moonpool_test_{tag}_{}_{nanos}", std::process::id())
}

/// Drops `schema` (and everything in it).
pub fn drop_schema(url: &str, schema: &str) {
    drop(DropSchema {
        url: url.to_string(),
        schema: schema.to_string(),
    });
}

/// Drops the test's schema when the test ends.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            let Ok((client, conn)) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await
            else {
                return;
            };
            let conn = tokio::spawn(conn);
            let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
            let _ = client.batch_execute(&sql).await;
            drop(client);
            let _ = conn.await;
        });
    }
}
