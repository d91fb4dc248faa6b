//! Where the database is and how the cluster's tables are named in it.

use std::time::Duration;

use super::error::PostgresError;

/// The longest schema name PostgreSQL keeps whole (it cuts longer ones
/// silently, which could give two clusters one schema).
pub const MAX_SCHEMA_BYTES: usize = 63;

/// How a node reaches the cluster's PostgreSQL database.
///
/// # Example
///
/// ```
/// use moonpool_core::postgres::PostgresConfig;
/// use std::time::Duration;
///
/// let config = PostgresConfig::new("postgres://postgres@127.0.0.1:5432/test", "bank")
///     .pool_size(8)
///     .timeout(Duration::from_secs(2));
/// assert_eq!(config.schema, "moonpool_bank");
/// // Cluster ids that are not plain lower-case names get a hash, so two
/// // ids never share a schema.
/// assert_ne!(PostgresConfig::new("", "Bank").schema, PostgresConfig::new("", "bank").schema);
/// ```
#[derive(Clone, Debug)]
pub struct PostgresConfig {
    /// The database: a URL (`postgres://user:password@host:port/database`)
    /// or key-value settings (`host=… user=… dbname=…`), as libpq takes
    /// them.
    pub url: String,
    /// The schema that holds this cluster's tables (created if missing);
    /// several clusters share a database, each in its own schema. Defaults
    /// to one derived from the cluster id ([`schema_for`]).
    pub schema: String,
    /// How many connections a node keeps open at most.
    pub pool_size: usize,
    /// How long one operation may take, waiting for a connection
    /// included; past it, the operation fails with
    /// [`PostgresError::Timeout`] (a write then may or may not have
    /// happened).
    pub timeout: Duration,
}

impl PostgresConfig {
    /// The database at `url`, in the schema of `cluster_id`; 4
    /// connections, 5 s per operation.
    pub fn new(url: impl Into<String>, cluster_id: &str) -> Self {
        Self {
            url: url.into(),
            schema: schema_for(cluster_id),
            pool_size: 4,
            timeout: Duration::from_secs(5),
        }
    }

    /// Keeps at most `n` connections open.
    pub fn pool_size(mut self, n: usize) -> Self {
        self.pool_size = n;
        self
    }

    /// Bounds every operation by `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Uses the schema `schema` instead of the cluster's default.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Checks what can be checked before connecting.
    pub(crate) fn check(&self) -> Result<tokio_postgres::Config, PostgresError> {
        let invalid = |reason: String| PostgresError::InvalidConfig { reason };
        if self.schema.is_empty() || self.schema.len() > MAX_SCHEMA_BYTES {
            return Err(invalid(format!(
                "the schema name {:?} must have 1 to {MAX_SCHEMA_BYTES} bytes",
                self.schema
            )));
        }
        if self.schema.contains('\0') {
            return Err(invalid("the schema name contains a NUL character".into()));
        }
        if self.pool_size == 0 {
            return Err(invalid(
                "pool_size is 0: no operation could ever run".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(invalid(
                "timeout is 0: every operation would time out".into(),
            ));
        }
        let mut pg: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| invalid(format!("the database URL cannot be read: {e}")))?;
        if pg.get_hosts().is_empty() {
            return Err(invalid(
                "the database URL names no host (add host=… or postgres://host/…)".into(),
            ));
        }
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(self.timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("moonpool");
        }
        Ok(pg)
    }
}

/// The default schema of `cluster_id`: `moonpool_<id>` for an id of at most
/// 40 lower-case letters, digits and underscores; otherwise those of its
/// characters (others as `_`, cut at 40) and a hash of the whole id, so
/// distinct ids never share a schema.
///
/// ```
/// use moonpool_core::postgres::schema_for;
/// assert_eq!(schema_for("bank_eu"), "moonpool_bank_eu");
/// assert!(schema_for("Bank EU").starts_with("moonpool_bank_eu_"));
/// assert!(schema_for(&"x".repeat(500)).len() <= 63);
/// ```
pub fn schema_for(cluster_id: &str) -> String {
    const KEEP: usize = 40;
    let plain = !cluster_id.is_empty()
        && cluster_id.len() <= KEEP
        && cluster_id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        return format!("moonpool_{cluster_id}");
    }
    let readable: String = cluster_id
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '_'
            }
        })
        .take(KEEP)
        .collect();
    let hash = moonpool_sim::fnv1a(cluster_id.as_bytes()) as u32;
    format!("moonpool_{readable}_{hash:08x}")
}

/// `name` quoted as an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` quoted as an SQL string literal.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(config: &PostgresConfig) -> String {
        match config.check() {
            Err(PostgresError::InvalidConfig { reason }) => reason,
            other => panic!("expected an invalid configuration, got {other:?}"),
        }
    }

    #[test]
    fn bad_settings_are_refused_in_words() {
        let good = PostgresConfig::new("postgres://postgres@127.0.0.1:5432/test", "bank");
        assert!(good.check().is_ok());
        assert!(refused(&good.clone().schema("")).contains("1 to 63 bytes"));
        assert!(refused(&good.clone().schema("s".repeat(64))).contains("1 to 63 bytes"));
        assert!(refused(&good.clone().schema("a\0b")).contains("NUL"));
        assert!(refused(&good.clone().pool_size(0)).contains("pool_size is 0"));
        assert!(refused(&good.clone().timeout(Duration::ZERO)).contains("timeout is 0"));
        let mut bad = good.clone();
        bad.url = "postgres://[::1".into();
        assert!(refused(&bad).contains("cannot be read"));
        bad.url = "dbname=test".into();
        assert!(refused(&bad).contains("names no host"));
    }

    #[test]
    fn schemas_of_distinct_clusters_differ_and_fit() {
        let ids = [
            "bank",
            "Bank",
            "bank ",
            "bank_",
            "",
            &"é".repeat(100),
            &"x".repeat(300),
        ];
        let schemas: Vec<String> = ids.iter().map(|id| schema_for(id)).collect();
        for (i, a) in schemas.iter().enumerate() {
            assert!(a.len() <= MAX_SCHEMA_BYTES, "{a}");
            for b in &schemas[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
