//! How members and votes are stored in PostgreSQL rows: a node id as its
//! address and incarnation columns, a status as a word, and statements
//! with their parameters.

use std::net::SocketAddr;

use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::membership::{Member, MemberStatus};
use crate::transport::NodeId;

/// A statement and its parameters.
pub(super) type Statement = (String, Vec<Box<dyn ToSql + Sync + Send>>);

/// The parameters of a node id.
pub(super) fn node_params(node: NodeId) -> [Box<dyn ToSql + Sync + Send>; 2] {
    let (addr, inc) = columns(node);
    [Box::new(addr), Box::new(inc)]
}

/// The word a status is stored as (the column allows only these).
pub(super) fn status_word(status: MemberStatus) -> &'static str {
    match status {
        MemberStatus::Alive => "alive",
        MemberStatus::Leaving => "leaving",
        MemberStatus::Left => "left",
        MemberStatus::Dead => "dead",
    }
}

/// The node id in columns `addr` and `inc` of `row` (`None`, logged, for
/// a row that does not hold one).
pub(super) fn node_of(row: &Row, addr: usize, inc: usize) -> Option<NodeId> {
    let text: String = row.try_get(addr).ok()?;
    let incarnation: i64 = row.try_get(inc).ok()?;
    match text.parse::<SocketAddr>() {
        Ok(addr) => Some(NodeId {
            addr,
            incarnation: incarnation as u64,
        }),
        Err(e) => {
            tracing::error!(address = %text, error = %e, "skipping a membership row with an unreadable address");
            None
        }
    }
}

/// The member in `row` (`None`, logged, for a row that does not hold one).
pub(super) fn member_of(row: &Row) -> Option<Member> {
    let id = node_of(row, 0, 1)?;
    let word: String = row.try_get(2).ok()?;
    let status = match word.as_str() {
        "alive" => MemberStatus::Alive,
        "leaving" => MemberStatus::Leaving,
        "left" => MemberStatus::Left,
        "dead" => MemberStatus::Dead,
        other => {
            tracing::error!(%id, status = other, "skipping a membership row with an unknown status");
            return None;
        }
    };
    let load: i64 = row.try_get(4).ok()?;
    let storage: Option<i64> = row.try_get(5).ok()?;
    Some(Member {
        id,
        status,
        hosts: row.try_get(3).ok()?,
        load: load.max(0) as u64,
        storage: storage.map(|s| s as u64),
    })
}

/// A node id as its columns.
pub(super) fn columns(node: NodeId) -> (String, i64) {
    (node.addr.to_string(), node.incarnation as i64)
}
