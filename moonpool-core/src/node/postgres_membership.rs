//! The membership table in PostgreSQL: any node keeps the cluster going
//! when any other dies.
//!
//! One version row stands for the whole table: every change bumps it in
//! the transaction that makes the change. A death vote is decided on what
//! the voter read, so it commits only if the version is still the one it
//! read (compare-and-swap): a lost race is a conflict, and the voter reads
//! again and decides again — votes cast at once are all counted, and a
//! vote never lands on a member that left in between. Changes that decide
//! nothing on what was read (a join, a load, a leave) apply in one
//! transaction after taking the version row, so they serialize with
//! everything else.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::BoxFuture;
use tokio_postgres::types::ToSql;

use super::membership::{Member, MembershipError, MembershipTable};
use super::postgres_rows::{Statement, columns, member_of, node_of, node_params, status_word};
use crate::postgres::{Postgres, PostgresError};
use crate::sync::lock;
use crate::transport::NodeId;

/// How many times a death vote is re-decided after losing a race before
/// it gives up ([`MembershipError::Contention`]).
pub const VOTE_ATTEMPTS: u32 = 20;

/// A [`MembershipTable`] in the cluster's PostgreSQL schema.
///
/// Rows carry the member's incarnation: a restarted node is a new member,
/// and its earlier life is marked dead when it joins. Suspicion votes are
/// rows of their own, with the time they were cast (older than
/// [`vote_expiry`](Self::vote_expiry) they no longer count, and they are
/// deleted when a node joins). Each row has
/// an `i_am_alive` time, refreshed with every load report, and members
/// dead or gone for [`defunct_after`](Self::defunct_after) are deleted
/// when a node joins. Times are the database's, so nodes' clocks need not
/// agree.
///
/// # Example
///
/// ```no_run
/// use moonpool_core::node::PostgresMembership;
/// use moonpool_core::postgres::{Postgres, PostgresConfig};
/// use std::time::Duration;
///
/// # async fn demo(providers: moonpool_sim::Providers) -> Result<(), Box<dyn std::error::Error>> {
/// let db = Postgres::connect(providers, PostgresConfig::new("postgres://127.0.0.1/test", "bank")).await?;
/// let membership = PostgresMembership::new(&db).defunct_after(Duration::from_secs(3600));
/// # let _ = membership; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PostgresMembership {
    db: Postgres,
    sql: Arc<Sql>,
    vote_expiry: Duration,
    defunct_after: Duration,
    /// The rows last read, by the version they were read at.
    cache: Arc<Mutex<Cached>>,
}

/// The rows last read, and the version they were read at.
type Cached = Option<(i64, Vec<Member>)>;

struct Sql {
    version: String,
    bump: String,
    bump_if: String,
    members: String,
    votes: String,
    upsert: String,
    bury_earlier: String,
    clear_votes: String,
    load: String,
    begin_leave: String,
    leave: String,
    vote: String,
    withdraw: String,
    declare: String,
    forget_defunct: String,
    forget_votes: String,
}

impl PostgresMembership {
    /// The membership of the cluster whose database `db` is: votes count
    /// for 2 minutes, members dead or gone are deleted after a day.
    pub fn new(db: &Postgres) -> Self {
        let (v, m, s) = (
            db.table("membership_version"),
            db.table("members"),
            db.table("suspicions"),
        );
        let node = "address = $1 AND incarnation = $2";
        let sql = Sql {
            version: format!("SELECT version FROM {v}"),
            bump: format!("UPDATE {v} SET version = version + 1"),
            bump_if: format!("UPDATE {v} SET version = version + 1 WHERE version = $1"),
            members: format!(
                "SELECT address, incarnation, status, hosts, load, storage FROM {m}
                 ORDER BY address, incarnation"
            ),
            votes: format!(
                "SELECT node_address, node_incarnation, voter_address, voter_incarnation FROM {s}
                 WHERE voted_at > now() - make_interval(secs => $1)"
            ),
            upsert: format!(
                "INSERT INTO {m} (address, incarnation, status, hosts, load, storage)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (address, incarnation) DO UPDATE SET status = $3, hosts = $4,
                     load = $5, storage = $6, i_am_alive = now(), changed_at = now()"
            ),
            bury_earlier: format!(
                "UPDATE {m} SET status = 'dead', changed_at = now()
                 WHERE address = $1 AND incarnation <> $2 AND status IN ('alive', 'leaving')"
            ),
            clear_votes: format!(
                "DELETE FROM {s} WHERE node_address = $1 AND node_incarnation = $2"
            ),
            load: format!("UPDATE {m} SET load = $3, i_am_alive = now() WHERE {node}"),
            begin_leave: format!(
                "UPDATE {m} SET status = 'leaving', changed_at = now() WHERE {node} AND status = 'alive'"
            ),
            leave: format!("UPDATE {m} SET status = 'left', changed_at = now() WHERE {node}"),
            vote: format!(
                "INSERT INTO {s} (node_address, node_incarnation, voter_address, voter_incarnation)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (node_address, node_incarnation, voter_address, voter_incarnation)
                 DO UPDATE SET voted_at = now()"
            ),
            withdraw: format!(
                "DELETE FROM {s} WHERE node_address = $1 AND node_incarnation = $2
                 AND voter_address = $3 AND voter_incarnation = $4"
            ),
            declare: format!("UPDATE {m} SET status = 'dead', changed_at = now() WHERE {node}"),
            forget_defunct: format!(
                "DELETE FROM {m} WHERE status IN ('dead', 'left')
                 AND changed_at < now() - make_interval(secs => $1)"
            ),
            forget_votes: format!(
                "DELETE FROM {s} WHERE voted_at < now() - make_interval(secs => $1)"
            ),
        };
        Self {
            db: db.clone(),
            sql: Arc::new(sql),
            vote_expiry: Duration::from_secs(120),
            defunct_after: Duration::from_secs(24 * 3600),
            cache: Arc::default(),
        }
    }

    /// Votes older than `expiry` no longer count.
    pub fn vote_expiry(mut self, expiry: Duration) -> Self {
        self.vote_expiry = expiry;
        self
    }

    /// Members dead or gone for `after` are deleted (when a node joins).
    pub fn defunct_after(mut self, after: Duration) -> Self {
        self.defunct_after = after;
        self
    }

    /// The table as one consistent read: its version, its rows, and the
    /// votes that count.
    async fn read(&self, what: &'static str) -> Result<Table, PostgresError> {
        let err = PostgresError::of(what);
        let mut client = self.db.client(what).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&err)?;
        let version: i64 = tx
            .query_one(&self.sql.version, &[])
            .await
            .map_err(&err)?
            .get(0);
        let members = tx.query(&self.sql.members, &[]).await.map_err(&err)?;
        let expiry = self.vote_expiry.as_secs_f64();
        let votes = tx.query(&self.sql.votes, &[&expiry]).await.map_err(&err)?;
        tx.commit().await.map_err(&err)?;
        let mut table = Table {
            version,
            members: members.iter().filter_map(member_of).collect(),
            votes: BTreeMap::new(),
        };
        for row in &votes {
            if let (Some(node), Some(voter)) = (node_of(row, 0, 1), node_of(row, 2, 3)) {
                table.votes.entry(node).or_default().insert(voter);
            }
        }
        Ok(table)
    }

    /// Runs `statements` in a transaction that first bumps the version
    /// (only if it is still `expected`, when given); whether it committed.
    async fn change(
        &self,
        what: &'static str,
        expected: Option<i64>,
        statements: Vec<Statement>,
    ) -> Result<bool, PostgresError> {
        let err = PostgresError::of(what);
        let mut client = self.db.client(what).await?;
        let tx = client.transaction().await.map_err(&err)?;
        // A node that stalls mid-change must not hold the version row (and
        // so every other node's changes) for long.
        tx.batch_execute(
            "SET LOCAL idle_in_transaction_session_timeout = '10s'; SET LOCAL lock_timeout = '10s'",
        )
        .await
        .map_err(&err)?;
        let bumped = match expected {
            Some(v) => tx.execute(&self.sql.bump_if, &[&v]).await.map_err(&err)?,
            None => tx.execute(&self.sql.bump, &[]).await.map_err(&err)?,
        };
        if bumped == 0 {
            return Ok(false); // the transaction rolls back when dropped
        }
        for (sql, params) in &statements {
            let params: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            tx.execute(sql.as_str(), &params).await.map_err(&err)?;
        }
        tx.commit().await.map_err(&err)?;
        *lock(&self.cache) = None;
        Ok(true)
    }

    /// Runs a change that decides nothing on what was read.
    fn blind(
        &self,
        what: &'static str,
        statements: Vec<Statement>,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let this = self.clone();
        Box::pin(async move {
            this.db
                .within(what, this.change(what, None, statements))
                .await
                .map(drop)
                .map_err(unavailable)
        })
    }
}

/// The table as one read saw it.
struct Table {
    version: i64,
    members: Vec<Member>,
    votes: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl Table {
    fn in_service(&self, node: NodeId) -> bool {
        self.members
            .iter()
            .any(|m| m.id == node && m.status.in_service())
    }

    /// Whether `node` is an in-service host: a member whose vote counts.
    fn votes_as_host(&self, node: NodeId) -> bool {
        self.members
            .iter()
            .any(|m| m.id == node && m.status.in_service() && !m.hosts.is_empty())
    }
}

fn unavailable(e: PostgresError) -> MembershipError {
    MembershipError::Unavailable(e.to_string())
}

impl MembershipTable for PostgresMembership {
    fn join(&self, member: Member) -> BoxFuture<'static, Result<(), MembershipError>> {
        let sql = &self.sql;
        let (addr, inc) = columns(member.id);
        let load = i64::try_from(member.load).unwrap_or(i64::MAX);
        let storage = member.storage.map(|s| s as i64);
        let statements: Vec<Statement> = vec![
            (
                sql.forget_defunct.clone(),
                vec![Box::new(self.defunct_after.as_secs_f64())],
            ),
            (
                sql.forget_votes.clone(),
                vec![Box::new(self.vote_expiry.as_secs_f64())],
            ),
            (sql.bury_earlier.clone(), node_params(member.id).into()),
            (sql.clear_votes.clone(), node_params(member.id).into()),
            (
                sql.upsert.clone(),
                vec![
                    Box::new(addr),
                    Box::new(inc),
                    Box::new(status_word(member.status)),
                    Box::new(member.hosts),
                    Box::new(load),
                    Box::new(storage),
                ],
            ),
        ];
        self.blind("joining the cluster", statements)
    }

    fn report_load(
        &self,
        node: NodeId,
        load: u64,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let mut params: Vec<Box<dyn ToSql + Sync + Send>> = node_params(node).into();
        params.push(Box::new(i64::try_from(load).unwrap_or(i64::MAX)));
        self.blind("reporting a load", vec![(self.sql.load.clone(), params)])
    }

    fn declare_dead(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let this = self.clone();
        Box::pin(async move {
            const WHAT: &str = "voting a member dead";
            let db = this.db.clone();
            for _ in 0..VOTE_ATTEMPTS {
                let table = db
                    .within(WHAT, this.read(WHAT))
                    .await
                    .map_err(unavailable)?;
                // Only hosts vote (see `MembershipTable::declare_dead`).
                if node == by || !table.in_service(node) || !table.votes_as_host(by) {
                    return Ok(());
                }
                let mut votes: BTreeSet<NodeId> =
                    table.votes.get(&node).cloned().unwrap_or_default();
                votes.insert(by);
                votes.retain(|v| table.votes_as_host(*v));
                let others = table
                    .members
                    .iter()
                    .filter(|m| m.status.in_service() && m.id != node && !m.hosts.is_empty())
                    .count();
                let needed = if others >= 2 { 2 } else { 1 };
                let dies = votes.len() >= needed;
                let statements: Vec<Statement> = if dies {
                    vec![
                        (this.sql.declare.clone(), node_params(node).into()),
                        (this.sql.clear_votes.clone(), node_params(node).into()),
                    ]
                } else {
                    let [a, b] = node_params(node);
                    let [c, d] = node_params(by);
                    vec![(this.sql.vote.clone(), vec![a, b, c, d])]
                };
                let committed = db
                    .within(WHAT, this.change(WHAT, Some(table.version), statements))
                    .await
                    .map_err(unavailable)?;
                if committed {
                    if dies {
                        tracing::warn!(%node, votes = votes.len(), "member declared dead");
                    } else {
                        tracing::debug!(%node, %by, votes = votes.len(), needed, "member suspected");
                    }
                    return Ok(());
                }
                // Lost a race: read again and decide again.
            }
            Err(MembershipError::Contention {
                attempts: VOTE_ATTEMPTS,
            })
        })
    }

    fn withdraw_suspicion(
        &self,
        node: NodeId,
        by: NodeId,
    ) -> BoxFuture<'static, Result<(), MembershipError>> {
        let [a, b] = node_params(node);
        let [c, d] = node_params(by);
        self.blind(
            "withdrawing a vote",
            vec![(self.sql.withdraw.clone(), vec![a, b, c, d])],
        )
    }

    fn begin_leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        let statement = (self.sql.begin_leave.clone(), node_params(node).into());
        self.blind("beginning to leave", vec![statement])
    }

    fn leave(&self, node: NodeId) -> BoxFuture<'static, Result<(), MembershipError>> {
        let statement = (self.sql.leave.clone(), node_params(node).into());
        self.blind("leaving the cluster", vec![statement])
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<Vec<Member>, MembershipError>> {
        let this = self.clone();
        Box::pin(async move {
            const WHAT: &str = "reading the membership";
            let db = this.db.clone();
            db.within(WHAT, async {
                // One small query when nothing changed since the last read.
                let client = this.db.client(WHAT).await?;
                let version: i64 = client
                    .query_one(&this.sql.version, &[])
                    .await
                    .map_err(PostgresError::of(WHAT))?
                    .get(0);
                drop(client);
                if let Some((seen, rows)) = &*lock(&this.cache)
                    && *seen == version
                {
                    return Ok(rows.clone());
                }
                let table = this.read(WHAT).await?;
                *lock(&this.cache) = Some((table.version, table.members.clone()));
                Ok(table.members)
            })
            .await
            .map_err(unavailable)
        })
    }
}

impl std::fmt::Debug for PostgresMembership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresMembership")
            .field("db", &self.db)
            .field("vote_expiry", &self.vote_expiry)
            .field("defunct_after", &self.defunct_after)
            .finish_non_exhaustive()
    }
}
