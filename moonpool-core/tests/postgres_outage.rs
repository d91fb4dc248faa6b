//! The database goes away and comes back: operations fail typed and within
//! their timeout, nothing written before is lost, and the pool reconnects
//! by itself. The database is reached through a proxy the test cuts.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests fail loudly by design
// A real database through a real proxy, outside any simulation: real time,
// threads and tasks.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use moonpool_core::ActorId;
use moonpool_core::state::{PostgresStorage, StateStorage, StorageError};

// Real connections, outside any simulation: real time and tasks.
#[allow(dead_code, clippy::disallowed_methods)]
mod common {
    include!("common/postgres.rs");
}

#[allow(dead_code)]
mod proxy {
    include!("common/proxy.rs");
}
use proxy::{CUT, OPEN, Proxy, SILENT, through};

#[test]
fn storage_fails_typed_during_an_outage_and_recovers_after_it() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    let probe: tokio_postgres::Config = url.parse().unwrap();
    let Some((_, upstream)) = through(&url, "127.0.0.1:1".parse().unwrap()) else {
        eprintln!(
            "skipped: {:?} is not a TCP address to proxy",
            probe.get_hosts()
        );
        return;
    };
    let proxy = Proxy::start(upstream);
    let (proxied, _) = through(&url, proxy.addr).unwrap();
    let timeout = Duration::from_millis(800);
    common::with_config(
        &proxied,
        "outage",
        |c| c.timeout(timeout).pool_size(2),
        |db| async move {
            let store = PostgresStorage::new(&db);
            let id = ActorId {
                type_name: "Outage".into(),
                key: "acct".into(),
            };
            let mut current = store.write(&id, b"before".to_vec(), None).await.unwrap();

            for (mode, name) in [(CUT, "cut"), (SILENT, "silent")] {
                proxy.set(mode);
                let started = Instant::now();
                let failed = store.write(&id, b"during".to_vec(), Some(current)).await;
                assert!(
                    matches!(&failed, Err(StorageError::Io { reason, .. }) if !reason.is_empty()),
                    "{name}: {failed:?}"
                );
                let read = store.read(&id).await;
                assert!(
                    matches!(read, Err(StorageError::Io { .. })),
                    "{name}: {read:?}"
                );
                // Bounded: each operation within its timeout (and a margin).
                assert!(
                    started.elapsed() < timeout * 2 + Duration::from_secs(1),
                    "{name}: {:?}",
                    started.elapsed()
                );

                proxy.set(OPEN);
                let deadline = Instant::now() + Duration::from_secs(10);
                let back = loop {
                    match store.read(&id).await {
                        Ok(found) => break found,
                        Err(e) if Instant::now() < deadline => {
                            let _ = e;
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        Err(e) => panic!("{name}: the database did not come back: {e}"),
                    }
                };
                // Nothing written before is lost. The write the outage failed
                // may or may not have landed (a silent database may still run
                // it once it hears it), but whole or not at all.
                let (data, etag) = back.expect("the record");
                match &data[..] {
                    b"before" => assert_eq!(etag, current, "{name}"),
                    b"during" => assert_ne!(etag, current, "{name}"),
                    other => panic!("{name}: found {other:?}"),
                }
                current = etag;
            }
            let e2 = store
                .write(&id, b"after".to_vec(), Some(current))
                .await
                .unwrap();
            assert_eq!(
                store.read(&id).await.unwrap(),
                Some((b"after".to_vec(), e2))
            );
        },
    );
}
