//! A 64-byte echo round trip between two simulated processes, next to the
//! same echo over real loopback TCP on tokio measured in the same run.
//!
//! `cargo bench -p moonpool-sim --bench network`
// A benchmark: wall clock on purpose.
#![allow(missing_docs, clippy::disallowed_methods, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{Providers, Simulation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROUNDS: u64 = 200_000;
const PAYLOAD: [u8; 64] = [7u8; 64];

async fn serve(p: Providers, addr: SocketAddr) {
    let mut listener = p.bind(addr).await.expect("bind");
    let (mut stream, _) = listener.accept().await.expect("accept");
    let mut buf = [0u8; 64];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            break;
        }
    }
}

async fn ping(p: &Providers, addr: SocketAddr, rounds: u64) {
    let mut stream = p.connect(addr).await.expect("connect");
    let mut buf = [0u8; 64];
    for _ in 0..rounds {
        stream.write_all(&PAYLOAD).await.expect("write");
        stream.read_exact(&mut buf).await.expect("read");
    }
}

fn simulated(rounds: u64) -> Duration {
    let t = Instant::now();
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(move |sim| async move {
            let server = sim.start_process("server", |p| async move {
                serve(p, "0.0.0.0:9000".parse().expect("addr")).await;
            });
            sim.sleep(Duration::from_millis(1)).await;
            let addr = SocketAddr::new(sim.ip_of(server), 9000);
            ping(&sim.providers(), addr, rounds).await;
        })
        .expect("simulation passes");
    t.elapsed()
}

fn tokio_loopback(rounds: u64) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let p = Providers::tokio().expect("providers");
        let listener = p
            .bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let q = p.clone();
        p.spawn(async move {
            let mut listener = listener;
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 64];
            while stream.read_exact(&mut buf).await.is_ok() {
                if stream.write_all(&buf).await.is_err() {
                    break;
                }
            }
            drop(q);
        });
        let t = Instant::now();
        ping(&p, addr, rounds).await;
        t.elapsed()
    })
}

fn main() {
    println!("moonpool-sim network benchmark (best of 5, release)\n");
    let ours = (0..5).map(|_| simulated(ROUNDS)).min().unwrap_or_default();
    let base = (0..5)
        .map(|_| tokio_loopback(ROUNDS))
        .min()
        .unwrap_or_default();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / ROUNDS as f64;
    println!(
        "64-byte echo round trip          simulated {:>6.3} µs   tokio loopback TCP {:>6.3} µs   ratio {:>5.2}x",
        per(ours),
        per(base),
        per(ours) / per(base)
    );
}
