//! The database goes away and comes back: operations fail typed and within
//! their timeout, nothing written before is lost, and the pool reconnects
//! by itself. The database is reached through a proxy the test cuts.
#![cfg(feature = "postgres")]
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests fail loudly by design
// A real database through a real proxy, outside any simulation: real time,
// threads and tasks.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use moonpool_core::ActorId;
use moonpool_core::state::{PostgresStorage, StateStorage, StorageError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// Real connections, outside any simulation: real time and tasks.
#[allow(dead_code, clippy::disallowed_methods)]
mod common {
    include!("common/postgres.rs");
}

const OPEN: u8 = 0;
/// Connections are dropped, new ones closed at once.
const CUT: u8 = 1;
/// Nothing passes, nothing closes: the database seems to hang.
const SILENT: u8 = 2;

/// A TCP proxy to the database, on its own thread and runtime.
struct Proxy {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let mode = Arc::new(AtomicU8::new(OPEN));
        let (tx, rx) = std::sync::mpsc::channel();
        let m = Arc::clone(&mode);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let Ok((client, _)) = listener.accept().await else {
                        return;
                    };
                    if m.load(Ordering::SeqCst) == CUT {
                        continue; // dropped: closed at once
                    }
                    let m = Arc::clone(&m);
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        tokio::spawn(pipe(cr, sw, Arc::clone(&m)));
                        pipe(sr, cw, m).await;
                    });
                }
            });
        });
        Self {
            addr: rx.recv().unwrap(),
            mode,
        }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` while the proxy is open; holds while it is
/// silent; stops (closing both) when it is cut.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: Arc<AtomicU8>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::select! {
            biased;
            read = from.read(&mut buf) => match read { Ok(0) | Err(_) => return, Ok(n) => n },
            () = tokio::time::sleep(Duration::from_millis(20)) => 0,
        };
        loop {
            match mode.load(Ordering::SeqCst) {
                CUT => return,
                SILENT => tokio::time::sleep(Duration::from_millis(10)).await,
                _ => break,
            }
        }
        if n > 0 && to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The URL of the database behind `proxy`, and where the database is.
fn through(url: &str, proxy: SocketAddr) -> Option<(String, SocketAddr)> {
    let config: tokio_postgres::Config = url.parse().ok()?;
    let host = match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        _ => return None, // a Unix socket: nothing to proxy
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .ok()?
        .next()?;
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or(user);
    let mut proxied = format!(
        "host={} port={} user={user} dbname={db}",
        proxy.ip(),
        proxy.port()
    );
    if let Some(pw) = config.get_password() {
        proxied.push_str(&format!(" password={}", String::from_utf8_lossy(pw)));
    }
    Some((proxied, upstream))
}

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
