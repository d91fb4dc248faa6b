//! Every reminder table keeps the same contract (`reminder::conformance`):
//! in memory, on any state storage (in memory, the simulated disk, a real
//! disk, a storage server over the transport), and in PostgreSQL (feature
//! `postgres`, against the server named by `MOONPOOL_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use moonpool_core::reminder::conformance::check_reminder_table;
use moonpool_core::reminder::{InMemoryReminderTable, StorageReminderTable};
use moonpool_core::state::{DiskStorage, InMemoryStorage, RemoteStorage, StorageServer};
use moonpool_sim::Providers;
use moonpool_sim::chaos::FaultConfig;

const RACERS: usize = 16;

#[test]
fn in_memory_reminder_table_keeps_the_contract() {
    moonpool_sim::Simulation::new(1)
        .run(|_| async {
            check_reminder_table(&InMemoryReminderTable::new(), "Conformance", RACERS)
                .await
                .unwrap();
        })
        .unwrap();
}

#[test]
fn storage_reminder_table_keeps_the_contract_in_memory() {
    moonpool_sim::Simulation::new(1)
        .run(|_| async {
            let table = StorageReminderTable::new(Arc::new(InMemoryStorage::new()));
            check_reminder_table(&table, "Conformance", RACERS)
                .await
                .unwrap();
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn storage_reminder_table_keeps_the_contract_on_the_simulated_disk(
    sim: moonpool_sim::SimContext,
) {
    let store = DiskStorage::open(sim.providers(), "reminders")
        .await
        .unwrap();
    let table = StorageReminderTable::new(Arc::new(store));
    check_reminder_table(&table, "Conformance", RACERS)
        .await
        .unwrap();
}

#[test]
fn storage_reminder_table_keeps_the_contract_on_a_real_disk() {
    let dir = std::env::temp_dir().join(format!("moonpool-reminders-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = dir.clone();
    runtime.block_on(async move {
        let providers = Providers::tokio_with_storage_root(root).unwrap();
        let store = DiskStorage::open(providers, "reminders").await.unwrap();
        let table = StorageReminderTable::new(Arc::new(store));
        check_reminder_table(&table, "Conformance", RACERS)
            .await
            .unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn storage_reminder_table_keeps_the_contract_through_a_storage_server() {
    moonpool_sim::Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (server, client) = (sim.add_process("storage"), sim.add_process("node"));
            let backend = Arc::new(InMemoryStorage::new());
            let addr = "10.0.0.2:9000".parse().unwrap();
            let server = StorageServer::start(sim.providers_for(server), addr, "c", backend)
                .await
                .unwrap();
            let store = RemoteStorage::connect(
                sim.providers_for(client),
                "10.0.0.3:0".parse().unwrap(),
                server.addr(),
                "c",
                Duration::from_secs(5),
            )
            .await
            .unwrap();
            let table = StorageReminderTable::new(Arc::new(store));
            check_reminder_table(&table, "Conformance", RACERS)
                .await
                .unwrap();
        })
        .unwrap();
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use moonpool_core::reminder::{PostgresReminderTable, ReminderEntry, ReminderTable};

    #[test]
    fn postgres_reminder_table_keeps_the_contract() {
        let Some(url) = common::postgres_url() else {
            return;
        };
        common::with_schema(&url, "reminders", |db| async move {
            let table = PostgresReminderTable::new(&db);
            check_reminder_table(&table, "Conformance", RACERS)
                .await
                .unwrap();
            // A second handle (another node) sees the same rows.
            let other = PostgresReminderTable::new(&db);
            let entry = ReminderEntry {
                actor: moonpool_core::ActorId {
                    type_name: "Conformance".into(),
                    key: "shared".into(),
                },
                name: "r".into(),
                first_due: moonpool_core::WallTime::from_unix_millis(1),
                period: Duration::from_secs(1),
                delivered_through: None,
            };
            let etag = table.upsert(&entry, None).await.unwrap();
            let seen = other.read(&entry.actor, "r").await.unwrap().unwrap();
            assert_eq!((seen.entry, seen.etag), (entry, etag));
        });
    }

    // Real connections, outside any simulation: real time and tasks.
    #[allow(dead_code, clippy::disallowed_methods)]
    mod common {
        include!("common/postgres.rs");
    }
}
