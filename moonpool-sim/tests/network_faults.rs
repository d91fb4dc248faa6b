//! The simulated network under faults: partitions and healing, resets seen
//! by a killed process's peers, half-open connections, bit flips caught by
//! a checksum, and determinism of it all.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{NetConfig, ProcessId, Providers, SimConfig, SimContext, Simulation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 4500;
const MAIN: ProcessId = ProcessId::MAIN;

/// Starts a process that echoes every byte back on every connection.
fn start_echo(sim: &SimContext, name: &str) -> (ProcessId, SocketAddr) {
    let pid = sim.start_process(name, |p: Providers| async move {
        let any = SocketAddr::new([0, 0, 0, 0].into(), PORT);
        let mut listener = p.bind(any).await.unwrap();
        while let Ok((mut stream, _)) = listener.accept().await {
            p.spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (pid, SocketAddr::new(sim.ip_of(pid), PORT))
}

fn calm(seed: u64) -> Simulation {
    Simulation::new(seed).faults(FaultConfig::calm())
}

#[test]
fn a_partition_stops_traffic_and_healing_resumes_it() {
    calm(1)
        .run(|sim| async move {
            let (server, addr) = start_echo(&sim, "server");
            sim.sleep(Duration::from_millis(10)).await;
            let p = sim.providers();
            let mut stream = p.connect(addr).await.unwrap();
            stream.write_all(b"before").await.unwrap();
            let mut buf = [0u8; 6];
            stream.read_exact(&mut buf).await.unwrap();

            sim.partition(MAIN, server);
            // Writes are accepted (buffered, as TCP would) but nothing
            // comes back, and new connections time out.
            stream.write_all(b"during").await.unwrap();
            let waited = p
                .timeout(Duration::from_secs(30), stream.read_exact(&mut buf))
                .await;
            assert!(waited.is_err(), "bytes crossed a partition");
            let err = p.connect(addr).await.err().unwrap();
            assert_eq!(err.kind(), ErrorKind::TimedOut);

            sim.heal(MAIN, server);
            let healed_at = sim.now();
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"during");
            assert!(sim.now() - healed_at < Duration::from_millis(10));
        })
        .unwrap();
}

#[test]
fn a_one_way_partition_blocks_one_direction_only() {
    calm(2)
        .run(|sim| async move {
            let (server, addr) = start_echo(&sim, "server");
            sim.sleep(Duration::from_millis(10)).await;
            let p = sim.providers();
            let mut stream = p.connect(addr).await.unwrap();
            // Replies (server -> main) are cut; requests still arrive.
            sim.partition_one_way(server, MAIN);
            stream.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            let r = p
                .timeout(Duration::from_secs(5), stream.read_exact(&mut buf))
                .await;
            assert!(r.is_err(), "a reply crossed the one-way partition");
            sim.heal_all();
            stream.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
        })
        .unwrap();
}

#[test]
fn an_isolated_process_reaches_no_one() {
    calm(3)
        .run(|sim| async move {
            let (server, addr) = start_echo(&sim, "server");
            let (_, other) = start_echo(&sim, "other");
            sim.sleep(Duration::from_millis(10)).await;
            sim.isolate(server);
            let p = sim.providers();
            assert_eq!(
                p.connect(addr).await.err().unwrap().kind(),
                ErrorKind::TimedOut
            );
            assert!(p.connect(other).await.is_ok());
            sim.heal(server, MAIN);
            assert!(p.connect(addr).await.is_ok());
        })
        .unwrap();
}

#[test]
fn a_killed_process_peers_observe_a_reset() {
    calm(4)
        .run(|sim| async move {
            let (server, addr) = start_echo(&sim, "server");
            sim.sleep(Duration::from_millis(10)).await;
            let p = sim.providers();
            let mut stream = p.connect(addr).await.unwrap();
            stream.write_all(b"x").await.unwrap();
            let mut buf = [0u8; 1];
            stream.read_exact(&mut buf).await.unwrap();

            assert!(sim.kill_process(server).unwrap() >= 2); // accept loop + connection
            let err = stream.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            let err = stream.write_all(b"y").await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            // Nobody listens any more.
            assert_eq!(
                p.connect(addr).await.err().unwrap().kind(),
                ErrorKind::ConnectionRefused
            );
            // After a restart the same address serves again.
            sim.restart_process(server).unwrap();
            sim.sleep(Duration::from_millis(10)).await;
            let mut again = p.connect(addr).await.unwrap();
            again.write_all(b"z").await.unwrap();
            again.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"z");
            assert_eq!(sim.incarnation(server), Some(1));
        })
        .unwrap();
}

#[test]
fn half_open_connections_hang_until_the_keepalive_resets_them() {
    let config = SimConfig {
        net: NetConfig {
            half_open_probability: 1.0,
            half_open_timeout_max: Duration::from_secs(20),
            ..NetConfig::default()
        },
        ..SimConfig::default()
    };
    Simulation::new(5)
        .config(config)
        .faults(FaultConfig {
            half_open: true,
            ..FaultConfig::calm()
        })
        .run(|sim| async move {
            let (server, addr) = start_echo(&sim, "server");
            sim.sleep(Duration::from_millis(10)).await;
            let p = sim.providers();
            let mut stream = p.connect(addr).await.unwrap();
            sim.kill_process(server).unwrap();
            let killed_at = sim.now();
            // Writes still "succeed": the bytes vanish.
            stream.write_all(b"into the void").await.unwrap();
            let mut buf = [0u8; 1];
            let err = stream.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            let hung = sim.now() - killed_at;
            assert!(hung >= Duration::from_millis(1), "the peer noticed at once");
            assert!(hung <= Duration::from_secs(21), "{hung:?}");
        })
        .unwrap();
}

/// Frame: 4-byte length, 4-byte CRC-32 of the payload, payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn with_bit_flips_on_a_checksummed_echo_detects_every_corruption() {
    let config = SimConfig {
        net: NetConfig {
            bit_flip_probability: 0.2,
            ..NetConfig::default()
        },
        ..SimConfig::default()
    };
    let mut detected_total = 0;
    for seed in 0..10 {
        let (clean, detected) = Simulation::new(seed)
            .config(config.clone())
            .faults(FaultConfig {
                bit_flips: true,
                ..FaultConfig::calm()
            })
            .run(|sim| async move {
                let (_, addr) = start_echo(&sim, "server");
                sim.sleep(Duration::from_millis(10)).await;
                let mut stream = sim.providers().connect(addr).await.unwrap();
                let (mut clean, mut detected) = (0, 0);
                for i in 0..200u32 {
                    let payload = format!("message number {i}").into_bytes();
                    stream.write_all(&frame(&payload)).await.unwrap();
                    let mut header = [0u8; 8];
                    stream.read_exact(&mut header).await.unwrap();
                    let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
                    if len != payload.len() {
                        // The length itself was hit: the stream is out of
                        // step, as a real framing layer would conclude.
                        detected += 1;
                        break;
                    }
                    let mut body = vec![0u8; len];
                    stream.read_exact(&mut body).await.unwrap();
                    let sum = u32::from_be_bytes(header[4..].try_into().unwrap());
                    if crc32(&body) != sum {
                        detected += 1;
                    } else {
                        // Whatever passes the checksum must be intact.
                        assert_eq!(body, payload, "a corrupted frame passed the checksum");
                        clean += 1;
                    }
                }
                (clean, detected)
            })
            .unwrap()
            .output;
        assert!(clean > 0);
        detected_total += detected;
    }
    assert!(
        detected_total > 10,
        "bit flips were barely injected: {detected_total}"
    );
}

/// A busy cluster with every network fault family on: many clients, many
/// connections, resets and clogs.
async fn chaotic_traffic(sim: SimContext) -> (u32, u32) {
    let mut servers = Vec::new();
    for s in 0..3 {
        servers.push(start_echo(&sim, &format!("server-{s}")).1);
    }
    sim.sleep(Duration::from_millis(5)).await;
    let mut clients = Vec::new();
    for c in 0..12u32 {
        let p = sim.providers();
        let addr = servers[(c % 3) as usize];
        clients.push(sim.spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            for round in 0..10u32 {
                let attempt = async {
                    let mut s = p.connect(addr).await?;
                    let msg = format!("client {c} round {round}");
                    s.write_all(msg.as_bytes()).await?;
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back).await?;
                    Ok::<bool, std::io::Error>(back == msg.as_bytes())
                };
                match p.timeout(Duration::from_secs(5), attempt).await {
                    Ok(Ok(true)) => ok += 1,
                    Ok(Ok(false)) => panic!("echo returned different bytes"),
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let (mut ok, mut failed) = (0, 0);
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed += f;
    }
    (ok, failed)
}

#[test]
fn network_chaos_is_deterministic_per_seed() {
    let run = |seed| {
        Simulation::new(seed)
            .faults(FaultConfig {
                connect_failures: true,
                random_close: true,
                clogging: true,
                clock_drift: true,
                ..FaultConfig::calm()
            })
            .run(chaotic_traffic)
            .unwrap()
    };
    let mut any_failures = false;
    for seed in 0..5 {
        let (a, b) = (run(seed), run(seed));
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.output, b.output, "seed {seed}");
        assert_eq!(a.output.0 + a.output.1, 120);
        any_failures |= a.output.1 > 0;
    }
    assert!(any_failures, "faults never made a request fail");
}

#[test]
fn calm_networks_lose_nothing() {
    for seed in 0..5 {
        let r = calm(seed).run(chaotic_traffic).unwrap();
        assert_eq!(r.output, (120, 0), "seed {seed}");
    }
}

#[test]
fn a_writer_blocks_when_the_reader_does_not_read() {
    calm(6)
        .run(|sim| async move {
            let p = sim.providers();
            let mut listener = p.bind("10.0.0.1:7100".parse().unwrap()).await.unwrap();
            let server = p.spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                // Hold the connection without reading.
                std::future::pending::<()>().await;
                drop(stream);
            });
            let mut stream = p.connect("10.0.0.1:7100".parse().unwrap()).await.unwrap();
            let big = vec![1u8; 4 * 1024 * 1024];
            let mut written = 0usize;
            let stalled = p
                .timeout(Duration::from_secs(10), async {
                    while written < big.len() {
                        written += stream.write(&big[written..]).await.unwrap();
                    }
                })
                .await;
            assert!(stalled.is_err(), "4 MiB fit into a 256 KiB window");
            let window = NetConfig::default().buffer_bytes;
            assert_eq!(written, window, "the writer stopped at the window");
            server.abort();
        })
        .unwrap();
}

#[test]
fn clogged_links_delay_traffic() {
    let round_trip = |clogging: bool| {
        let config = SimConfig {
            net: NetConfig {
                clog_probability: 1.0,
                clog_max: Duration::from_secs(1),
                ..NetConfig::default()
            },
            ..SimConfig::default()
        };
        Simulation::new(7)
            .config(config)
            .faults(FaultConfig {
                clogging,
                ..FaultConfig::calm()
            })
            .run(|sim| async move {
                let (_, addr) = start_echo(&sim, "server");
                sim.sleep(Duration::from_millis(10)).await;
                let mut stream = sim.providers().connect(addr).await.unwrap();
                let start = sim.now();
                for _ in 0..20 {
                    stream.write_all(b"tick").await.unwrap();
                    let mut buf = [0u8; 4];
                    stream.read_exact(&mut buf).await.unwrap();
                }
                sim.now() - start
            })
            .unwrap()
            .output
    };
    let (clear, clogged) = (round_trip(false), round_trip(true));
    assert!(clear < Duration::from_millis(100), "{clear:?}");
    assert!(clogged > clear * 10, "clear {clear:?}, clogged {clogged:?}");
}
