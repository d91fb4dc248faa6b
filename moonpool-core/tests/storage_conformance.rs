//! Every state backend keeps the same contract (`state::conformance`):
//! in memory, on the simulated disk, on a real disk, over the transport,
//! and in PostgreSQL (feature `postgres`, against the server named by
//! `MOONPOOL_POSTGRES_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::time::Duration;

use moonpool_core::state::conformance::check_storage;
use moonpool_core::state::{DiskStorage, InMemoryStorage, RemoteStorage, StorageServer};
use moonpool_sim::Providers;
use moonpool_sim::chaos::FaultConfig;

const RACERS: usize = 16;

#[test]
fn in_memory_storage_keeps_the_contract() {
    moonpool_sim::Simulation::new(1)
        .run(|_| async {
            check_storage(&InMemoryStorage::new(), "Conformance", RACERS)
                .await
                .unwrap();
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn disk_storage_keeps_the_contract_on_the_simulated_disk(sim: moonpool_sim::SimContext) {
    let store = DiskStorage::open(sim.providers(), "state").await.unwrap();
    check_storage(&store, "Conformance", RACERS).await.unwrap();
}

#[test]
fn disk_storage_keeps_the_contract_on_a_real_disk() {
    let dir = std::env::temp_dir().join(format!("moonpool-conformance-{}", std::process::id()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let root = dir.clone();
    runtime.block_on(async move {
        // Storage paths are relative to the providers' root.
        let providers = Providers::tokio_with_storage_root(root).unwrap();
        let store = DiskStorage::open(providers, "state").await.unwrap();
        check_storage(&store, "Conformance", RACERS).await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn remote_storage_keeps_the_contract() {
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
            check_storage(&store, "Conformance", RACERS).await.unwrap();
        })
        .unwrap();
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use moonpool_core::postgres::{Postgres, PostgresConfig};
    use moonpool_core::state::{PostgresStorage, StateStorage};

    #[test]
    fn postgres_storage_keeps_the_contract() {
        let Some(url) = common::postgres_url() else {
            return;
        };
        common::with_schema(&url, "storage", |db| async move {
            let store = PostgresStorage::new(&db);
            check_storage(&store, "Conformance", RACERS).await.unwrap();
            // A second handle (another node) sees the same records.
            let other = PostgresStorage::new(&db);
            let id = moonpool_core::ActorId {
                type_name: "Conformance".into(),
                key: "shared".into(),
            };
            let etag = store
                .write(&id, b"from one node".to_vec(), None)
                .await
                .unwrap();
            assert_eq!(
                other.read(&id).await.unwrap(),
                Some((b"from one node".to_vec(), etag))
            );
        });
    }

    /// Nodes starting together migrate a new schema once, and a node
    /// connecting later finds it migrated, its records intact.
    #[test]
    fn nodes_starting_together_migrate_the_schema_once() {
        let Some(url) = common::postgres_url() else {
            return;
        };
        let (url2, fresh) = (url.clone(), common::scratch_schema("fresh"));
        let schema = fresh.clone();
        common::with_schema(&url, "migrate", |db| async move {
            let fresh = schema;
            let connect = |schema: String| {
                let config = PostgresConfig::new(url2.clone(), "unused").schema(schema);
                Postgres::connect(Providers::tokio().unwrap(), config)
            };
            let (a, b, c, d) = tokio::join!(
                connect(fresh.clone()),
                connect(fresh.clone()),
                connect(fresh.clone()),
                connect(fresh.clone())
            );
            let first = a.unwrap();
            for other in [b, c, d] {
                other.unwrap();
            }
            let id = moonpool_core::ActorId {
                type_name: "Conformance".into(),
                key: "kept".into(),
            };
            let etag = PostgresStorage::new(&first)
                .write(&id, b"kept".to_vec(), None)
                .await
                .unwrap();
            let later = connect(fresh.clone()).await.unwrap();
            assert_eq!(
                PostgresStorage::new(&later).read(&id).await.unwrap(),
                Some((b"kept".to_vec(), etag))
            );
            drop(db);
        });
        common::drop_schema(&url, &fresh);
    }

    // Real connections, outside any simulation: real time and tasks.
    #[allow(dead_code, clippy::disallowed_methods)]
    mod common {
        include!("common/postgres.rs");
    }
}
