//! The provider conformance suite (time, tasks, randomness): each body runs
//! unchanged against the tokio providers and the simulated ones, so code
//! tested in the simulator behaves the same in production.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use std::net::{IpAddr, SocketAddr};

use moonpool_sim::{Elapsed, JoinError, OpenMode, Providers, Simulation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generates, from each body, a test on the tokio providers (real TCP on
/// loopback, files in a fresh temporary directory) and one in the
/// simulation (20 calm seeds: conformance is about semantics, not faults).
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_tokio {
            $(
                #[test]
                fn $name() {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .unwrap();
                    let root = super::temp_root(stringify!($name));
                    rt.block_on(async {
                        let p = moonpool_sim::Providers::tokio_with_storage_root(&root).unwrap();
                        super::$name(p, "127.0.0.1".parse().unwrap()).await;
                    });
                    let _ = std::fs::remove_dir_all(&root);
                }
            )*
        }
        mod in_simulation {
            $(
                #[test]
                fn $name() {
                    for seed in 0..20 {
                        let config = moonpool_sim::SimConfig {
                            faults: moonpool_sim::chaos::FaultPlan::Fixed(
                                moonpool_sim::chaos::FaultConfig::calm(),
                            ),
                            ..moonpool_sim::SimConfig::default()
                        };
                        moonpool_sim::Simulation::new(seed)
                            .config(config)
                            .run(|sim| {
                                let ip = sim.ip_of(moonpool_sim::ProcessId::MAIN);
                                super::$name(sim.providers(), ip)
                            })
                            .unwrap();
                    }
                }
            )*
        }
    };
}

/// A fresh directory for one tokio test.
fn temp_root(name: &str) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "moonpool-conformance-{}-{name}-{n}",
        std::process::id()
    ))
}

conformance!(
    sleep_waits_at_least_its_duration,
    timeout_fires_for_slow_futures_only,
    spawn_returns_the_value,
    abort_cancels_and_is_idempotent,
    dropped_handles_detach,
    many_tasks_share_a_channel,
    random_draws_stay_in_range,
    echo_round_trips,
    concurrent_connections_stay_separate,
    a_lock_is_exclusive_until_dropped,
    ten_megabytes_arrive_intact,
    half_close_lets_the_other_side_answer,
    connecting_to_a_closed_port_is_refused,
    reads_after_the_peer_closes_see_end_of_stream,
    files_write_sync_read_rename_remove,
    atomic_replace_and_bad_paths,
);

async fn sleep_waits_at_least_its_duration(p: Providers, _ip: IpAddr) {
    let start = p.now();
    p.sleep(Duration::from_millis(20)).await;
    assert!(p.now() - start >= Duration::from_millis(20));
    let before = p.now();
    p.sleep_until(before).await; // already reached: immediate
    assert!(p.now() - before < Duration::from_millis(20));
}

async fn timeout_fires_for_slow_futures_only(p: Providers, _ip: IpAddr) {
    let slow = p
        .timeout(Duration::from_millis(10), p.sleep(Duration::from_secs(30)))
        .await;
    assert_eq!(
        slow,
        Err(Elapsed {
            after: Duration::from_millis(10)
        })
    );
    let fast = p.timeout(Duration::from_secs(30), async { "done" }).await;
    assert_eq!(fast, Ok("done"));
}

async fn spawn_returns_the_value(p: Providers, _ip: IpAddr) {
    let q = p.clone();
    let task = p.spawn_named("adder", async move {
        q.sleep(Duration::from_millis(1)).await;
        40 + 2
    });
    assert_eq!(task.name(), "adder");
    assert_eq!(task.await, Ok(42));
}

async fn abort_cancels_and_is_idempotent(p: Providers, _ip: IpAddr) {
    let q = p.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = p.spawn_named("sleeper", async move {
        let _guard = tx; // dropped when the task is dropped
        q.sleep(Duration::from_secs(3_600)).await;
    });
    p.sleep(Duration::from_millis(1)).await;
    task.abort();
    task.abort();
    // The task's future is dropped, so its channel closes.
    assert!(rx.await.is_err());
    assert_eq!(
        task.await,
        Err(JoinError::Cancelled {
            task: "sleeper".into()
        })
    );
}

async fn dropped_handles_detach(p: Providers, _ip: IpAddr) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let q = p.clone();
    drop(p.spawn(async move {
        q.sleep(Duration::from_millis(5)).await;
        let _ = tx.send("ran");
    }));
    assert_eq!(rx.await, Ok("ran"));
}

async fn many_tasks_share_a_channel(p: Providers, _ip: IpAddr) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    for i in 0..100u64 {
        let tx = tx.clone();
        let q = p.clone();
        p.spawn(async move {
            q.sleep(Duration::from_millis(q.random_below(5))).await;
            tx.send(i).await.unwrap();
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    assert_eq!(sum, 4_950);
}

async fn random_draws_stay_in_range(p: Providers, _ip: IpAddr) {
    for _ in 0..1_000 {
        assert!(p.random_below(10) < 10);
        assert!((5..8).contains(&p.random_range(5..8)));
        let d = p.random_duration(Duration::from_millis(1), Duration::from_millis(2));
        assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(2));
    }
    assert!(!p.random_bool(0.0));
    assert!(p.random_bool(1.0));
    let (start, end) = (9, 3);
    assert_eq!(p.random_range(start..end), 9);
}

async fn listen(p: &Providers, ip: IpAddr) -> (Box<dyn moonpool_sim::NetListener>, SocketAddr) {
    let listener = p.bind(SocketAddr::new(ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Serves echo on every accepted connection until the listener is dropped.
fn spawn_echo(p: &Providers, mut listener: Box<dyn moonpool_sim::NetListener>) {
    let q = p.clone();
    p.spawn_named("echo-server", async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            q.spawn_named("echo-conn", async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
}

async fn echo_round_trips(p: Providers, ip: IpAddr) {
    let (listener, addr) = listen(&p, ip).await;
    spawn_echo(&p, listener);
    let mut stream = p.connect(addr).await.unwrap();
    assert_eq!(stream.peer_addr().unwrap(), addr);
    for round in 0..50u32 {
        let msg = format!("ping {round}");
        stream.write_all(msg.as_bytes()).await.unwrap();
        let mut back = vec![0u8; msg.len()];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(back, msg.as_bytes());
    }
}

async fn concurrent_connections_stay_separate(p: Providers, ip: IpAddr) {
    let (listener, addr) = listen(&p, ip).await;
    spawn_echo(&p, listener);
    let mut clients = Vec::new();
    for c in 0..20u8 {
        let q = p.clone();
        clients.push(p.spawn(async move {
            let mut stream = q.connect(addr).await.unwrap();
            let payload = vec![c; 1000 + usize::from(c) * 37];
            stream.write_all(&payload).await.unwrap();
            let mut back = vec![0u8; payload.len()];
            stream.read_exact(&mut back).await.unwrap();
            back == payload
        }));
    }
    for c in clients {
        assert_eq!(c.await, Ok(true));
    }
}

async fn ten_megabytes_arrive_intact(p: Providers, ip: IpAddr) {
    const LEN: usize = 10 * 1024 * 1024;
    let (mut listener, addr) = listen(&p, ip).await;
    let receiver = p.spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut got = Vec::with_capacity(LEN);
        stream.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut stream = p.connect(addr).await.unwrap();
    let data: Vec<u8> = (0..LEN).map(|i| (i * 31 % 251) as u8).collect();
    stream.write_all(&data).await.unwrap();
    stream.shutdown().await.unwrap();
    let got = receiver.await.unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "the transfer was corrupted");
}

async fn half_close_lets_the_other_side_answer(p: Providers, ip: IpAddr) {
    let (mut listener, addr) = listen(&p, ip).await;
    let server = p.spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        stream.read_to_end(&mut request).await.unwrap(); // ends at the client's FIN
        stream
            .write_all(format!("got {} bytes", request.len()).as_bytes())
            .await
            .unwrap();
        stream.shutdown().await.unwrap();
    });
    let mut stream = p.connect(addr).await.unwrap();
    stream.write_all(b"hello server").await.unwrap();
    stream.shutdown().await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "got 12 bytes");
    server.await.unwrap();
}

async fn connecting_to_a_closed_port_is_refused(p: Providers, ip: IpAddr) {
    let (listener, addr) = listen(&p, ip).await;
    drop(listener);
    let err = p
        .connect(addr)
        .await
        .err()
        .expect("connected to a closed port");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

async fn reads_after_the_peer_closes_see_end_of_stream(p: Providers, ip: IpAddr) {
    let (mut listener, addr) = listen(&p, ip).await;
    let server = p.spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"bye").await.unwrap();
        // Dropping the stream closes it.
    });
    let mut stream = p.connect(addr).await.unwrap();
    server.await.unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    let mut more = [0u8; 4];
    assert_eq!(
        stream.read(&mut more).await.unwrap(),
        0,
        "data after end of stream"
    );
}

async fn files_write_sync_read_rename_remove(p: Providers, _ip: IpAddr) {
    let mut f = p.open("data/a.log", OpenMode::CreateNew).await.unwrap();
    assert_eq!(f.append(b"hello ").await.unwrap(), 0);
    assert_eq!(f.append(b"world").await.unwrap(), 6);
    f.write_at(0, b"HELLO").await.unwrap();
    f.sync().await.unwrap();
    assert_eq!(f.size().await.unwrap(), 11);
    assert_eq!(f.read_at(6, 100).await.unwrap(), b"world");
    assert_eq!(f.read_at(50, 10).await.unwrap(), b"");
    drop(f);
    let err = p
        .open("data/a.log", OpenMode::CreateNew)
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(p.read_file("data/a.log").await.unwrap(), b"HELLO world");
    p.storage()
        .rename("data/a.log", "data/b.log")
        .await
        .unwrap();
    p.storage().sync_dir("data").await.unwrap();
    assert_eq!(p.storage().list("data").await.unwrap(), ["b.log"]);
    let missing = p.read_file("data/a.log").await.unwrap_err();
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    let mut t = p.open("data/b.log", OpenMode::Truncate).await.unwrap();
    assert_eq!(t.size().await.unwrap(), 0);
    drop(t);
    p.storage().remove("data/b.log").await.unwrap();
    assert!(p.storage().list("data").await.unwrap().is_empty());
    assert_eq!(
        p.storage().remove("data/b.log").await.unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

async fn atomic_replace_and_bad_paths(p: Providers, _ip: IpAddr) {
    p.write_atomically("state/acct", b"v1").await.unwrap();
    p.write_atomically("state/acct", b"version two")
        .await
        .unwrap();
    assert_eq!(p.read_file("state/acct").await.unwrap(), b"version two");
    assert_eq!(p.storage().list("state").await.unwrap(), ["acct"]);
    for bad in ["", "/abs", "../escape", "a/../../b"] {
        let err = p.open(bad, OpenMode::Create).await.err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad}");
    }
}

async fn a_lock_is_exclusive_until_dropped(p: Providers, _ip: IpAddr) {
    let held = p.storage().lock("data/LOCK").await.unwrap();
    let err = p.storage().lock("data/LOCK").await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    assert!(err.to_string().contains("LOCK"), "{err}");
    // Other paths are independent.
    let other = p.storage().lock("data/OTHER").await.unwrap();
    drop(held);
    let again = p.storage().lock("data/LOCK").await.unwrap();
    drop((again, other));
    assert!(p.storage().lock("../LOCK").await.is_err());
}

#[test]
fn a_tokio_task_panic_reaches_its_join_handle() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let bad = p.spawn_named("bad", async { panic!("expected in this test") });
        assert_eq!(bad.await, Err(JoinError::Panicked { task: "bad".into() }));
    });
}

#[test]
fn tokio_providers_need_a_runtime() {
    let err = Providers::tokio().unwrap_err();
    assert!(err.to_string().contains("inside a tokio runtime"), "{err}");
}

#[test]
fn simulated_providers_are_deterministic_per_seed() {
    let draw = |seed| {
        Simulation::new(seed)
            .run(|sim| async move {
                let p = sim.providers();
                (0..8).map(|_| p.random_u64()).collect::<Vec<_>>()
            })
            .unwrap()
            .output
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}

/// A real TCP stream's halves (its own split, no lock) carry bytes
/// both ways, and shutting the writing half down ends the peer's
/// reading.
#[test]
fn a_tcp_streams_halves_carry_bytes_both_ways() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let mut listener = p.bind(([127, 0, 0, 1], 0).into()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(p.connect(addr), listener.accept());
        let (mut read, mut write) = dialed.unwrap().into_halves();
        let (mut peer_read, mut peer_write) = accepted.unwrap().0.into_halves();

        write.write_all(b"ping").await.unwrap();
        let mut got = [0; 4];
        peer_read.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        peer_write.write_all(b"pong").await.unwrap();
        read.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");

        write.shutdown().await.unwrap();
        drop(write);
        assert_eq!(
            peer_read.read(&mut got).await.unwrap(),
            0,
            "no end of stream"
        );
    });
}
