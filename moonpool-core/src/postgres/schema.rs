//! The cluster's schema and its versions: each migration runs once, in
//! order, in one transaction holding a lock on the schema's name, so nodes
//! starting together migrate it once and a failed migration leaves no
//! trace.

use super::config::{quote_ident, quote_literal};
use super::error::PostgresError;

/// The migrations, oldest first; `{schema}` stands for the quoted schema
/// and `{etags}` for the etag sequence as a string literal. Never edit one that
/// has shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE SEQUENCE IF NOT EXISTS {schema}.etags;
     CREATE TABLE IF NOT EXISTS {schema}.actor_state (
         actor_type text NOT NULL,
         actor_key bytea NOT NULL,
         etag bigint NOT NULL DEFAULT nextval({etags}),
         payload bytea NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (actor_type, actor_key)
     );",
    ),
    (
        2,
        "CREATE TABLE IF NOT EXISTS {schema}.membership_version (
         singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
         version bigint NOT NULL
     );
     INSERT INTO {schema}.membership_version (singleton, version) VALUES (true, 0)
         ON CONFLICT DO NOTHING;
     CREATE TABLE IF NOT EXISTS {schema}.members (
         address text NOT NULL,
         incarnation bigint NOT NULL,
         status text NOT NULL CHECK (status IN ('alive', 'leaving', 'left', 'dead')),
         hosts text[] NOT NULL,
         load bigint NOT NULL,
         storage bigint,
         started_at timestamptz NOT NULL DEFAULT now(),
         i_am_alive timestamptz NOT NULL DEFAULT now(),
         changed_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (address, incarnation)
     );
     CREATE TABLE IF NOT EXISTS {schema}.suspicions (
         node_address text NOT NULL,
         node_incarnation bigint NOT NULL,
         voter_address text NOT NULL,
         voter_incarnation bigint NOT NULL,
         voted_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (node_address, node_incarnation, voter_address, voter_incarnation)
     );",
    ),
    (
        3,
        "CREATE TABLE IF NOT EXISTS {schema}.reminders (
         actor_type text NOT NULL,
         actor_key bytea NOT NULL,
         name text NOT NULL,
         ring_position bigint NOT NULL,
         first_due_ms bigint NOT NULL,
         period_ms bigint NOT NULL,
         delivered_through_ms bigint,
         etag bigint NOT NULL DEFAULT nextval({etags}),
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (actor_type, actor_key, name)
     );
     CREATE INDEX IF NOT EXISTS reminders_by_position ON {schema}.reminders (ring_position);",
    ),
];

/// The newest schema version this library knows.
pub(crate) fn latest() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

/// Brings `schema` to the latest version.
pub(crate) async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: &str,
) -> Result<(), PostgresError> {
    const WHAT: &str = "migrating the schema";
    let err = PostgresError::of(WHAT);
    let quoted = quote_ident(schema);
    let tx = client.transaction().await.map_err(&err)?;
    // Serialises the nodes migrating this schema (released at commit).
    let key = moonpool_sim::fnv1a(schema.as_bytes()) as i64;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&key])
        .await
        .map_err(&err)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.schema_version (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await
    .map_err(&err)?;
    let current: i32 = tx
        .query_one(
            &format!("SELECT coalesce(max(version), 0) FROM {quoted}.schema_version"),
            &[],
        )
        .await
        .map_err(&err)?
        .get(0);
    if current > latest() {
        return Err(PostgresError::SchemaTooNew {
            schema: schema.to_string(),
            found: current,
            known: latest(),
        });
    }
    let sequence = quote_literal(&format!("{quoted}.etags"));
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let sql = sql
            .replace("{etags}", &sequence)
            .replace("{schema}", &quoted);
        tx.batch_execute(&sql).await.map_err(&err)?;
        tx.execute(
            &format!("INSERT INTO {quoted}.schema_version (version) VALUES ($1)"),
            &[version],
        )
        .await
        .map_err(&err)?;
        tracing::info!(schema, version, "migrated the cluster's database schema");
    }
    tx.commit().await.map_err(&err)
}
