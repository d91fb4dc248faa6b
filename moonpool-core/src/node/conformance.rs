//! The contract every [`MembershipTable`] keeps, as a suite a backend
//! runs: [`check_membership`]. Moonpool runs it against its in-memory
//! table and PostgreSQL; run it against your own.

use std::net::SocketAddr;
use std::sync::Arc;

use moonpool_sim::BoxFuture;

use super::membership::{Member, MemberStatus, MembershipTable};
use crate::state::conformance::{JoinAll, Violation};
use crate::transport::NodeId;

/// Makes an empty table for one case of the suite.
pub type TableMaker<'a> = &'a (dyn Fn() -> BoxFuture<'static, Arc<dyn MembershipTable>> + Sync);

/// Checks the tables `make` returns (a fresh, empty one per case) against
/// the membership contract: rows round-trip; loads update only their
/// member; a restarted node (new incarnation) replaces its earlier life;
/// leaving goes alive → leaving → left; death takes two live voters when
/// at least two others are alive (one otherwise), a withdrawn or dead
/// voter's vote does not count; a vote by or against an earlier life of a
/// restarted node, or against a member that left, changes nothing; and
/// races — nodes joining at once, voters
/// voting at once, a vote racing a leave — lose nothing.
///
/// # Errors
///
/// The first [`Violation`].
///
/// # Example
///
/// ```
/// use moonpool_core::node::{InMemoryMembership, MembershipTable, conformance::check_membership};
/// use std::sync::Arc;
///
/// moonpool_sim::Simulation::new(1).run(|_| async {
///     let make = || -> moonpool_sim::BoxFuture<'static, Arc<dyn MembershipTable>> {
///         Box::pin(async { Arc::new(InMemoryMembership::new()) as Arc<dyn MembershipTable> })
///     };
///     check_membership(&make).await.unwrap();
/// }).unwrap();
/// ```
pub async fn check_membership(make: TableMaker<'_>) -> Result<(), Violation> {
    rows_round_trip(make().await).await?;
    restart_replaces(make().await).await?;
    leaving(make().await).await?;
    votes(make().await).await?;
    clients_do_not_vote(make().await).await?;
    votes_name_a_life_in_service(make().await).await?;
    joins_at_once(make().await).await?;
    voters_at_once(make().await).await?;
    vote_races_leave(make().await).await?;
    Ok(())
}

fn broke(case: &'static str, detail: impl std::fmt::Display) -> Violation {
    Violation {
        case,
        detail: detail.to_string(),
    }
}

/// A member at 10.9.0.`last`:7000.
fn member(last: u8, incarnation: u64) -> Member {
    Member {
        id: NodeId {
            addr: SocketAddr::from(([10, 9, 0, last], 7000)),
            incarnation,
        },
        status: MemberStatus::Alive,
        hosts: vec!["Account".to_string(), format!("Type{last}")],
        load: u64::from(last) * 10,
        storage: Some(0xfeed_0000_0000_0000 | u64::from(last)),
    }
}

async fn rows(case: &'static str, table: &dyn MembershipTable) -> Result<Vec<Member>, Violation> {
    let mut rows = table
        .snapshot()
        .await
        .map_err(|e| broke(case, format!("snapshot failed: {e}")))?;
    rows.sort_by_key(|m| m.id);
    Ok(rows)
}

/// The status of `id`'s row (`None`: no row).
async fn status_of(
    case: &'static str,
    table: &dyn MembershipTable,
    id: NodeId,
) -> Result<Option<MemberStatus>, Violation> {
    Ok(rows(case, table)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .map(|m| m.status))
}

async fn expect_status(
    case: &'static str,
    table: &dyn MembershipTable,
    id: NodeId,
    want: MemberStatus,
) -> Result<(), Violation> {
    match status_of(case, table, id).await? {
        Some(s) if s == want => Ok(()),
        other => Err(broke(case, format!("{id} is {other:?}, expected {want:?}"))),
    }
}

fn ok<T, E: std::fmt::Display>(case: &'static str, r: Result<T, E>) -> Result<T, Violation> {
    r.map_err(|e| broke(case, format!("failed: {e}")))
}

async fn join_all(
    case: &'static str,
    table: &dyn MembershipTable,
    members: &[Member],
) -> Result<(), Violation> {
    for m in members {
        ok(case, table.join(m.clone()).await)?;
    }
    Ok(())
}

async fn rows_round_trip(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "rows round-trip and loads update their member only";
    let t = &*table;
    let before = t.version();
    let mut members = vec![member(1, 11), member(2, u64::MAX), member(3, 0)];
    members[2].hosts.clear(); // a client
    members[2].storage = None;
    join_all(CASE, t, &members).await?;
    if before.is_some() && t.version() == before {
        return Err(broke(CASE, "the version did not change after joins"));
    }
    let got = rows(CASE, t).await?;
    if got != members {
        return Err(broke(CASE, format!("joined {members:?}, read {got:?}")));
    }
    ok(CASE, t.report_load(members[0].id, 12_345).await)?;
    // A load for a member's earlier life, or a stranger, changes nothing.
    let stale = NodeId {
        incarnation: 10,
        ..members[1].id
    };
    ok(CASE, t.report_load(stale, 99).await)?;
    ok(CASE, t.report_load(member(9, 1).id, 99).await)?;
    members[0].load = 12_345;
    let got = rows(CASE, t).await?;
    if got != members {
        return Err(broke(CASE, format!("expected {members:?}, read {got:?}")));
    }
    Ok(())
}

async fn restart_replaces(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "a restarted node replaces its earlier life";
    let t = &*table;
    let (a, b) = (member(1, 1), member(2, 1));
    join_all(CASE, t, &[a.clone(), b.clone()]).await?;
    let again = member(1, 2);
    ok(CASE, t.join(again.clone()).await)?;
    let got = rows(CASE, t).await?;
    let serving: Vec<NodeId> = got
        .iter()
        .filter(|m| m.status.in_service())
        .map(|m| m.id)
        .collect();
    if serving.len() != 2 || !serving.contains(&again.id) || !serving.contains(&b.id) {
        return Err(broke(CASE, format!("in service: {serving:?}")));
    }
    if got.iter().any(|m| m.id == a.id && m.status.in_service()) {
        return Err(broke(CASE, "the earlier incarnation is still in service"));
    }
    // The earlier life's acts change nothing.
    ok(CASE, t.report_load(a.id, 7).await)?;
    ok(CASE, t.begin_leave(a.id).await)?;
    expect_status(CASE, t, again.id, MemberStatus::Alive).await
}

async fn leaving(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "leaving: alive, leaving, left";
    let t = &*table;
    let (a, b, c) = (member(1, 1), member(2, 1), member(3, 1));
    join_all(CASE, t, &[a.clone(), b.clone(), c.clone()]).await?;
    ok(CASE, t.begin_leave(a.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Leaving).await?;
    ok(CASE, t.leave(a.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Left).await?;
    // A member not in service stays as it is.
    ok(CASE, t.begin_leave(a.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Left).await?;
    ok(CASE, t.declare_dead(b.id, c.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Dead).await?;
    ok(CASE, t.begin_leave(b.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Dead).await
}

async fn votes(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "death takes enough live voters";
    let t = &*table;
    let (a, b, c) = (member(1, 1), member(2, 1), member(3, 1));
    join_all(CASE, t, &[a.clone(), b.clone(), c.clone()]).await?;
    // Nobody dies of their own vote, nor of a stranger's.
    ok(CASE, t.declare_dead(a.id, a.id).await)?;
    ok(CASE, t.declare_dead(a.id, member(9, 1).id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Alive).await?;
    // One bad link: A and B vote each other dead; nobody dies.
    ok(CASE, t.declare_dead(b.id, a.id).await)?;
    ok(CASE, t.declare_dead(a.id, b.id).await)?;
    ok(CASE, t.declare_dead(b.id, a.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Alive).await?;
    expect_status(CASE, t, b.id, MemberStatus::Alive).await?;
    // A withdrew before C voted: still one vote.
    ok(CASE, t.withdraw_suspicion(b.id, a.id).await)?;
    ok(CASE, t.declare_dead(b.id, c.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Alive).await?;
    // A votes again: two live voters.
    ok(CASE, t.declare_dead(b.id, a.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Dead).await?;
    // Dead B's vote against A does not count; with one other alive (C),
    // one vote is enough.
    ok(CASE, t.declare_dead(a.id, b.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Alive).await?;
    ok(CASE, t.declare_dead(a.id, c.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Dead).await
}

async fn clients_do_not_vote(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "a client's vote never kills a host";
    let t = &*table;
    let (a, b) = (member(1, 1), member(2, 1));
    let client = Member {
        hosts: Vec::new(),
        ..member(7, 1)
    };
    join_all(CASE, t, &[a.clone(), b.clone(), client.clone()]).await?;
    // The client's link to A is bad: its votes do not count.
    ok(CASE, t.declare_dead(a.id, client.id).await)?;
    ok(CASE, t.declare_dead(a.id, client.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Alive).await?;
    // B, the only other host, is enough to declare A dead (the client is
    // no voter, so it does not raise the count needed).
    ok(CASE, t.declare_dead(a.id, b.id).await)?;
    expect_status(CASE, t, a.id, MemberStatus::Dead).await?;
    // The last host cannot be killed by a client alone.
    ok(CASE, t.declare_dead(b.id, client.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Alive).await?;
    // A client is declared dead by a host's vote.
    ok(CASE, t.declare_dead(client.id, b.id).await)?;
    expect_status(CASE, t, client.id, MemberStatus::Dead).await
}

async fn votes_name_a_life_in_service(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str =
        "votes by or against an earlier life, or against a member gone, change nothing";
    let t = &*table;
    let (a, b, c, d) = (member(1, 1), member(2, 1), member(3, 1), member(4, 1));
    join_all(CASE, t, &[a.clone(), b.clone(), c.clone(), d.clone()]).await?;
    // A restarts. Votes against its earlier life do not touch the new one.
    let again = member(1, 2);
    ok(CASE, t.join(again.clone()).await)?;
    ok(CASE, t.declare_dead(a.id, b.id).await)?;
    ok(CASE, t.declare_dead(a.id, c.id).await)?;
    expect_status(CASE, t, again.id, MemberStatus::Alive).await?;
    // Nor does a vote by its earlier life count: with three other hosts
    // (A's new life, C, D) B needs two live voters, and has one.
    ok(CASE, t.declare_dead(b.id, a.id).await)?;
    ok(CASE, t.declare_dead(b.id, c.id).await)?;
    expect_status(CASE, t, b.id, MemberStatus::Alive).await?;
    ok(CASE, t.withdraw_suspicion(b.id, c.id).await)?;
    // Leaving by the earlier life's name does not make the new one leave.
    ok(CASE, t.leave(a.id).await)?;
    expect_status(CASE, t, again.id, MemberStatus::Alive).await?;
    // A member that left stays left, however many vote against it.
    ok(CASE, t.leave(d.id).await)?;
    ok(CASE, t.declare_dead(d.id, b.id).await)?;
    ok(CASE, t.declare_dead(d.id, c.id).await)?;
    ok(CASE, t.declare_dead(d.id, again.id).await)?;
    expect_status(CASE, t, d.id, MemberStatus::Left).await
}

async fn joins_at_once(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "nodes joining at once all join";
    let t = &*table;
    let members: Vec<Member> = (1..=8).map(|i| member(i, 1)).collect();
    let joins = members.iter().map(|m| t.join(m.clone())).collect();
    for r in JoinAll::new(joins).await {
        ok(CASE, r)?;
    }
    let got = rows(CASE, t).await?;
    if got != members {
        return Err(broke(
            CASE,
            format!("joined {} at once, read {got:?}", members.len()),
        ));
    }
    Ok(())
}

async fn voters_at_once(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "votes cast at once are all counted";
    let t = &*table;
    let members: Vec<Member> = (1..=5).map(|i| member(i, 1)).collect();
    join_all(CASE, t, &members).await?;
    let victim = members[0].id;
    let votes = members[1..3]
        .iter()
        .map(|v| t.declare_dead(victim, v.id))
        .collect();
    for r in JoinAll::new(votes).await {
        ok(CASE, r)?;
    }
    expect_status(CASE, t, victim, MemberStatus::Dead).await
}

async fn vote_races_leave(table: Arc<dyn MembershipTable>) -> Result<(), Violation> {
    const CASE: &str = "a vote racing a leave ends dead or left";
    let t = &*table;
    let members: Vec<Member> = (1..=4).map(|i| member(i, 1)).collect();
    join_all(CASE, t, &members).await?;
    let victim = members[0].id;
    let racing: Vec<BoxFuture<'static, Result<(), super::MembershipError>>> = vec![
        t.declare_dead(victim, members[1].id),
        t.leave(victim),
        t.declare_dead(victim, members[2].id),
    ];
    for r in JoinAll::new(racing).await {
        ok(CASE, r)?;
    }
    match status_of(CASE, t, victim).await? {
        Some(MemberStatus::Dead | MemberStatus::Left) => Ok(()),
        other => Err(broke(CASE, format!("{victim} ended {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use moonpool_sim::BoxFuture;

    use crate::node::conformance::check_membership;
    use crate::node::membership::{InMemoryMembership, MembershipTable};

    /// The in-memory table keeps the contract every table keeps (a unit test,
    /// so a change to the table fails the crate's unit tests).
    #[test]
    fn in_memory_table_keeps_the_contract() {
        moonpool_sim::Simulation::new(1)
            .run(|_| async {
                let make = || -> BoxFuture<'static, Arc<dyn MembershipTable>> {
                    Box::pin(async {
                        Arc::new(InMemoryMembership::new()) as Arc<dyn MembershipTable>
                    })
                };
                check_membership(&make).await.unwrap();
            })
            .unwrap();
    }
}
