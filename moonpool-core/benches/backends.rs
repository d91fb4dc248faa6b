//! The cluster-state backends side by side, measured in the same run:
//! actor-state write+read round trips on PostgreSQL against the file
//! backend, and what a membership refresh costs on PostgreSQL with 10
//! members against the in-memory table.
//!
//! `MOONPOOL_POSTGRES_URL=… cargo bench -p moonpool-core --features postgres --bench backends`
//! (`scripts/postgres-scratch create` makes a database; without the
//! variable the PostgreSQL figures are skipped with a line saying so).
// A benchmark: wall clock, real files and sockets, prints on purpose.
#![allow(
    missing_docs,
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use moonpool_core::ActorId;
use moonpool_core::node::{
    InMemoryMembership, Member, MemberStatus, MembershipTable, PostgresMembership,
};
use moonpool_core::postgres::{Postgres, PostgresConfig};
use moonpool_core::state::{DiskStorage, PostgresStorage, StateStorage};
use moonpool_core::transport::NodeId;
use moonpool_sim::Providers;

/// One row of figures: ours, the baseline, and the ratio.
fn row(name: &str, ours: f64, base: f64, unit: &str, base_name: &str) {
    println!(
        "{name:<58} postgres {ours:>10.1} {unit:<10} {base_name} {base:>10.1} {unit:<10} ratio {:>6.2}x",
        ours / base
    );
}

/// Round trips per second: `tasks` concurrent tasks, each doing `n`
/// write-then-read pairs on an actor of its own.
async fn round_trips(store: Arc<dyn StateStorage>, tasks: usize, n: usize) -> f64 {
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let id = ActorId {
                type_name: "Bench".into(),
                key: format!("actor-{t}").into(),
            };
            let mut etag = store.read(&id).await.unwrap().map(|(_, e)| e);
            for i in 0..n {
                let data = format!("balance {i}").into_bytes();
                etag = Some(store.write(&id, data, etag).await.unwrap());
                let read = store.read(&id).await.unwrap();
                assert_eq!(read.map(|(_, e)| e), etag);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    (tasks * n) as f64 / started.elapsed().as_secs_f64()
}

fn member(i: u8) -> Member {
    Member {
        id: NodeId {
            addr: SocketAddr::from(([10, 1, 0, i], 7000)),
            incarnation: u64::from(i),
        },
        status: MemberStatus::Alive,
        hosts: vec!["Account".into()],
        load: 0,
        storage: Some(1),
    }
}

/// Microseconds per refresh of `table` (10 members) unchanged since the
/// last read, and per load report followed by a refresh (a write and a
/// full read).
async fn refresh(table: Arc<dyn MembershipTable>, n: usize) -> (f64, f64) {
    for i in 1..=10 {
        table.join(member(i)).await.unwrap();
    }
    table.snapshot().await.unwrap();
    let started = Instant::now();
    for _ in 0..n {
        assert_eq!(table.snapshot().await.unwrap().len(), 10);
    }
    let unchanged = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let started = Instant::now();
    for k in 0..n {
        table.report_load(member(1).id, k as u64).await.unwrap();
        assert_eq!(table.snapshot().await.unwrap().len(), 10);
    }
    let changed = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    (unchanged, changed)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = std::env::var("MOONPOOL_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        println!(
            "skipped: the backend figures need MOONPOOL_POSTGRES_URL (scripts/postgres-scratch create makes a database)"
        );
        return;
    };
    runtime.block_on(async move {
        let p = Providers::tokio().unwrap();
        let schema = format!("moonpool_bench_{}", std::process::id());
        let config = PostgresConfig::new(url.clone(), "bench").schema(schema.clone());
        let db = Postgres::connect(p.clone(), config).await.unwrap();
        let dir = std::env::temp_dir().join(format!("moonpool-bench-{}", std::process::id()));
        // Storage paths are relative to the providers' root.
        let files = Providers::tokio_with_storage_root(&dir).unwrap();
        let disk = DiskStorage::open(files, "state").await.unwrap();
        let pg: Arc<dyn StateStorage> = Arc::new(PostgresStorage::new(&db));
        let disk: Arc<dyn StateStorage> = Arc::new(disk);
        println!("moonpool backend figures (release, 2 tokio worker threads; higher is better for round trips, lower for refreshes)");
        for tasks in [1, 16] {
            let n = if tasks == 1 { 2_000 } else { 300 };
            // Warm both, then measure alternately.
            round_trips(Arc::clone(&pg), tasks, 50).await;
            round_trips(Arc::clone(&disk), tasks, 50).await;
            let ours = round_trips(Arc::clone(&pg), tasks, n).await;
            let base = round_trips(Arc::clone(&disk), tasks, n).await;
            row(
                &format!("state write+read round trips, {tasks} task(s)"),
                ours,
                base,
                "trips/s",
                "file",
            );
        }
        let (pg_same, pg_changed) = refresh(Arc::new(PostgresMembership::new(&db)), 500).await;
        let (mem_same, mem_changed) = refresh(Arc::new(InMemoryMembership::new()), 500).await;
        row("membership refresh, 10 members, unchanged", pg_same, mem_same, "µs", "memory");
        row(
            "membership load report + refresh, 10 members",
            pg_changed,
            mem_changed,
            "µs",
            "memory",
        );
        let _ = std::fs::remove_dir_all(&dir);
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let conn = tokio::spawn(conn);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .unwrap();
        drop(client);
        let _ = conn.await;
    });
}
