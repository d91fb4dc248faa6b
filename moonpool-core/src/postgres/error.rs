//! Why a database operation failed.

use std::time::Duration;

/// Why a database operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostgresError {
    /// The configuration cannot work (see
    /// [`PostgresConfig`](super::PostgresConfig)).
    #[error("invalid PostgreSQL configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// No connection to the database could be made or kept (it is down,
    /// unreachable, or refused the login).
    #[error("cannot reach the database while {what}: {reason}")]
    Unavailable {
        /// What was being done.
        what: &'static str,
        /// The client's error.
        reason: String,
    },
    /// The operation did not finish in time: a write may or may not have
    /// happened.
    #[error("the database did not finish {what} within {after:?}")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The database answered with an error.
    #[error("the database refused {what}: {reason}")]
    Refused {
        /// What was being done.
        what: &'static str,
        /// The server's message (and SQLSTATE code).
        reason: String,
    },
    /// The cluster's schema was created by a newer moonpool.
    #[error(
        "the schema {schema} is at version {found}, newer than this moonpool knows ({known}): upgrade it"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// Its version.
        found: i32,
        /// The newest version this library knows.
        known: i32,
    },
}

impl PostgresError {
    /// The error of a failed client call while doing `what`.
    pub(crate) fn of(what: &'static str) -> impl Fn(tokio_postgres::Error) -> PostgresError {
        move |e| match e.as_db_error() {
            Some(db) => PostgresError::Refused {
                what,
                reason: format!("{} ({})", db.message(), db.code().code()),
            },
            None => PostgresError::Unavailable {
                what,
                reason: with_causes(&e),
            },
        }
    }

    /// The error of a pool that could not hand out a connection.
    pub(crate) fn pool(
        what: &'static str,
    ) -> impl Fn(deadpool_postgres::PoolError) -> PostgresError {
        move |e| match e {
            deadpool_postgres::PoolError::Backend(e) => Self::of(what)(e),
            other => PostgresError::Unavailable {
                what,
                reason: with_causes(&other),
            },
        }
    }
}

/// `e` and the errors beneath it, in words ("error connecting to server:
/// Connection refused (os error 111)").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let words = c.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        cause = c.source();
    }
    text
}
