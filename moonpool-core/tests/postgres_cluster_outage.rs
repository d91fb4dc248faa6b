//! A cluster on PostgreSQL (membership and state) rides out a database
//! outage: while the database is cut, every call ends — with a reply or a
//! typed error — within its timeout; no node is declared dead for it; once
//! the database is back the cluster serves again by itself, and every
//! deposit a caller saw acknowledged is in the stored balance.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests fail loudly by design
// Real nodes on real sockets and a real database: real time and tasks.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use moonpool_core::node::{MemberStatus, MembershipTable, PostgresMembership};
use moonpool_core::state::PostgresStorage;
use moonpool_core::{CallError, Node};
use moonpool_sim::Providers;

// Real connections, outside any simulation: real time and tasks.
#[allow(dead_code, clippy::disallowed_methods)]
mod common {
    include!("common/postgres.rs");
}

#[path = "common/mod.rs"]
mod actors;
use actors::{Account, Balance, Deposit};

#[allow(dead_code)]
mod proxy {
    include!("common/proxy.rs");
}
use proxy::{CUT, OPEN, Proxy, through};

const ACCOUNTS: usize = 6;
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// One deposit to account `k` through `node`: `Some(true)` acknowledged,
/// `Some(false)` failed (it may or may not have landed), and how long it
/// took.
async fn deposit(node: &Node, k: usize) -> (bool, Duration) {
    let started = Instant::now();
    let r: Result<Result<u64, String>, CallError> = node
        .actor::<Account>(format!("acct-{k}"))
        .call(Deposit(1))
        .await;
    (matches!(r, Ok(Ok(_))), started.elapsed())
}

#[test]
fn a_cluster_rides_out_a_database_outage() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let Some((_, upstream)) = through(&url, "127.0.0.1:1".parse().unwrap()) else {
        eprintln!("skipped: the database URL is not a TCP address to proxy");
        return;
    };
    let proxy = Proxy::start(upstream);
    let (proxied, _) = through(&url, proxy.addr).unwrap();
    let timeout = Duration::from_millis(800);
    common::with_config(
        &proxied,
        "cluster",
        |c| c.timeout(timeout).pool_size(6),
        |db| async move {
            let p = Providers::tokio().unwrap();
            let mut nodes = Vec::new();
            for _ in 0..3 {
                let node = Node::builder("pg-outage")
                    .listen("127.0.0.1:0".parse().unwrap())
                    .providers(p.clone())
                    .membership(PostgresMembership::new(&db))
                    .storage(PostgresStorage::new(&db))
                    .host::<Account>()
                    .call_timeout(CALL_TIMEOUT)
                    .failure_detection(Duration::from_millis(200), Duration::from_millis(300), 3)
                    .build()
                    .await
                    .unwrap();
                nodes.push(node);
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while nodes.iter().any(|n| n.live_members().len() < 3) {
                assert!(
                    Instant::now() < deadline,
                    "the nodes did not see each other"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }

            let mut acked = [0u64; ACCOUNTS];
            let mut failed = [0u64; ACCOUNTS];
            for _ in 0..3 {
                for k in 0..ACCOUNTS {
                    let (ok, _) = deposit(&nodes[k % 3], k).await;
                    assert!(ok, "a deposit failed with the database up");
                    acked[k] += 1;
                }
            }

            // The outage: every call ends within its timeout (and a margin),
            // acknowledged or with an error.
            proxy.set(CUT);
            let cut_at = Instant::now();
            while cut_at.elapsed() < Duration::from_secs(3) {
                for k in 0..ACCOUNTS {
                    let (ok, took) = deposit(&nodes[(k + 1) % 3], k).await;
                    assert!(
                        took < CALL_TIMEOUT + Duration::from_secs(1),
                        "a call took {took:?}"
                    );
                    if ok {
                        acked[k] += 1;
                    } else {
                        failed[k] += 1;
                    }
                }
            }
            assert!(failed.iter().sum::<u64>() > 0, "no call noticed the outage");

            // Back: the cluster serves again by itself.
            proxy.set(OPEN);
            let back_by = Instant::now() + Duration::from_secs(30);
            for k in 0..ACCOUNTS {
                loop {
                    let (ok, _) = deposit(&nodes[k % 3], k).await;
                    if ok {
                        acked[k] += 1;
                        break;
                    }
                    failed[k] += 1;
                    assert!(Instant::now() < back_by, "account {k} did not come back");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            // Nothing acknowledged is lost; a failed deposit may have landed.
            for k in 0..ACCOUNTS {
                let balance = nodes[0]
                    .actor::<Account>(format!("acct-{k}"))
                    .call(Balance)
                    .await
                    .unwrap();
                assert!(
                    (acked[k]..=acked[k] + failed[k]).contains(&balance),
                    "account {k}: balance {balance}, {} acknowledged, {} failed",
                    acked[k],
                    failed[k]
                );
            }
            // Nobody was declared dead for the database's outage.
            let members = PostgresMembership::new(&db).snapshot().await.unwrap();
            let alive = members
                .iter()
                .filter(|m| m.status == MemberStatus::Alive)
                .count();
            assert_eq!(alive, 3, "{members:?}");
            for n in nodes {
                n.shutdown().await;
            }
        },
    );
}
