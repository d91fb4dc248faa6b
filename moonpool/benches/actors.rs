//! Actor runtime figures against plain-tokio baselines measured in the same
//! run, each printed with its ratio.
//!
//! `cargo bench -p moonpool --bench actors`
// A benchmark: wall clock, tokio's spawner and prints on purpose.
#![allow(
    missing_docs,
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used
)]

use std::time::{Duration, Instant};

use moonpool::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

#[path = "support/grpc.rs"]
mod grpc;
#[path = "support/handed.rs"]
mod handed;

/// The benchmarked actor.
#[moonpool::actor(idle_timeout = "1h")]
#[derive(Default)]
pub struct Echo {
    n: u64,
}

#[moonpool::actor_impl]
impl Echo {
    /// Adds and returns the running total.
    pub async fn add(&mut self, x: u64) -> u64 {
        self.n += x;
        self.n
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The plain-tokio actor the baselines use: a task that adds what it is
/// sent and replies with the running total.
fn baseline_actor(capacity: usize) -> mpsc::Sender<(u64, oneshot::Sender<u64>)> {
    let (tx, mut rx) = mpsc::channel::<(u64, oneshot::Sender<u64>)>(capacity);
    tokio::spawn(async move {
        let mut total = 0u64;
        while let Some((x, reply)) = rx.recv().await {
            total += x;
            let _ = reply.send(total);
        }
    });
    tx
}

/// One ask of a [`baseline_actor`]: send, then wait for the reply.
async fn baseline_ask(tx: &mpsc::Sender<(u64, oneshot::Sender<u64>)>, x: u64) -> u64 {
    let (rtx, rrx) = oneshot::channel();
    tx.send((x, rtx)).await.unwrap();
    rrx.await.unwrap()
}

/// Prints one workload: both figures and moonpool's figure as a multiple
/// of tokio's (`lower_is_better` says how to read it).
fn row(name: &str, ours: f64, base: f64, unit: &str, lower_is_better: bool) {
    row_against("tokio", name, ours, base, unit, lower_is_better);
}

/// [`row`] against a baseline named `baseline`.
fn row_against(
    baseline: &str,
    name: &str,
    ours: f64,
    base: f64,
    unit: &str,
    lower_is_better: bool,
) {
    let ratio = ours / base;
    let better = if lower_is_better { "lower" } else { "higher" };
    println!(
        "{name:<52} moonpool {ours:>10.1} {unit:<8} {baseline} {base:>10.1} {unit:<8} moonpool/{baseline} {ratio:>5.2}x ({better} is better)"
    );
}

/// Latency percentile `q` of sorted `lat`, in microseconds.
fn percentile(lat: &[Duration], q: f64) -> f64 {
    lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6
}

/// Sequential asks to one local actor; baseline: a task with an mpsc
/// mailbox and a oneshot reply. Both run in alternating rounds of
/// `calls / ROUNDS` and the median round counts, so a burst of machine noise
/// cannot favour either side.
fn local_ask(rt: &tokio::runtime::Runtime, label: &str, calls: u64) {
    const ROUNDS: u64 = 5;
    let per_round = calls / ROUNDS;
    let node = rt.block_on(async { Node::builder("bench").build().await.unwrap() });
    let e = node.actor::<Echo>("e");
    rt.block_on(async { e.add(0).await.unwrap() });
    let tx = rt.block_on(async { baseline_actor(64) });
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(rt.block_on(async {
            let t = Instant::now();
            for i in 0..per_round {
                std::hint::black_box(e.add(i).await.unwrap());
            }
            t.elapsed()
        }));
        base.push(rt.block_on(async {
            let t = Instant::now();
            for i in 0..per_round {
                std::hint::black_box(baseline_ask(&tx, i).await);
            }
            t.elapsed()
        }));
    }
    rt.block_on(node.shutdown());
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e9 / per_round as f64
    };
    row(
        &format!("local ask, {calls} sequential calls{label}"),
        median(&mut ours),
        median(&mut base),
        "ns/call",
        true,
    );
}

/// What a subscriber costs: sequential local asks (1 thread) with no
/// subscriber, under an `info` fmt subscriber (what an operator runs: no
/// call or turn span is wanted, the node's span is) and under a `debug`
/// one (every call and turn in a span), both writing to a sink, in
/// alternating rounds; the median round counts, beside the same run's
/// figure with none.
fn traced_ask(calls: u64) {
    const ROUNDS: u64 = 5;
    let per_round = calls / ROUNDS;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let subscriber = |level: &str| {
        tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(level))
                .with_writer(std::io::sink)
                .finish(),
        )
    };
    let (info, debug) = (subscriber("info"), subscriber("debug"));
    // Built under the info subscriber, as an operator's node is: its span
    // (an info span) is then live, and its tasks run in it.
    let node = tracing::dispatcher::with_default(&info, || {
        rt.block_on(async { Node::builder("bench").build().await.unwrap() })
    });
    let e = node.actor::<Echo>("e");
    rt.block_on(async { e.add(0).await.unwrap() });
    let round = || {
        rt.block_on(async {
            let t = Instant::now();
            for i in 0..per_round {
                std::hint::black_box(e.add(i).await.unwrap());
            }
            t.elapsed()
        })
    };
    let (mut none, mut at_info, mut at_debug) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        none.push(round());
        at_info.push(tracing::dispatcher::with_default(&info, round));
        at_debug.push(tracing::dispatcher::with_default(&debug, round));
    }
    rt.block_on(node.shutdown());
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e9 / per_round as f64
    };
    let base = median(&mut none);
    for (name, figures) in [("info", &mut at_info), ("debug", &mut at_debug)] {
        let ours = median(figures);
        println!(
            "{:<52} {ours:>10.1} ns/call   no subscriber {base:>10.1} ns/call   ratio {:>5.2}x (lower is better)",
            format!("local ask (1 thread), {name}-level subscriber"),
            ours / base
        );
    }
}

/// First call to `n` distinct actors on one node; baseline: spawn `n` mpsc
/// tasks and ask each once. Alternating rounds of `n / ROUNDS` actors (the
/// node keeps the earlier rounds' activations, as the baseline keeps its
/// tasks); the median round counts.
fn activation(rt: &tokio::runtime::Runtime, label: &str, n: u64) {
    const ROUNDS: u64 = 5;
    let per_round = n / ROUNDS;
    let node = rt.block_on(async { Node::builder("bench").build().await.unwrap() });
    let mut senders = Vec::with_capacity(n as usize);
    let (mut ours, mut base) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        ours.push(rt.block_on(async {
            let t = Instant::now();
            for i in round * per_round..(round + 1) * per_round {
                node.actor::<Echo>(i.to_string()).add(1).await.unwrap();
            }
            t.elapsed()
        }));
        base.push(rt.block_on(async {
            let t = Instant::now();
            for _ in 0..per_round {
                let tx = baseline_actor(8);
                baseline_ask(&tx, 1).await;
                senders.push(tx);
            }
            t.elapsed()
        }));
    }
    assert_eq!(node.activation_count() as u64, per_round * ROUNDS);
    rt.block_on(node.shutdown());
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e9 / per_round as f64
    };
    row(
        &format!("activation, first call to {n} actors{label}"),
        median(&mut ours),
        median(&mut base),
        "ns/actor",
        true,
    );
}

/// Remote asks between two nodes over loopback TCP with `callers`
/// concurrent callers; baselines: a raw length-prefixed echo with the same
/// payload and concurrency (a connection per caller), the same echo with
/// a reader task handing each response to its caller (moonpool's way of
/// reading, to show what the hand-off costs by itself), and a gRPC unary
/// echo (tonic) of that payload (one connection, as gRPC clients share).
/// moonpool and the two raw echoes run in alternating rounds of `per_caller /
/// ROUNDS` calls per caller over connections opened before, and the median
/// round counts (a burst of machine noise cannot favour either side); the
/// spread of the rounds' ratios is printed beside it.
fn remote(rt: &tokio::runtime::Runtime, callers: usize, per_caller: u64) {
    const ROUNDS: usize = 5;
    let per_round = per_caller / ROUNDS as u64;
    let total = callers as u64 * per_round;
    let (mut ours, mut base, mut with_reader, lat) = rt.block_on(async {
        let table = moonpool::runtime::node::InMemoryMembership::new();
        let host = Node::builder("bench")
            .membership(table.clone())
            .build()
            .await
            .unwrap();
        let client = Node::builder("bench")
            .membership(table)
            .client_only()
            .build()
            .await
            .unwrap();
        let p = Providers::tokio().unwrap();
        while client.live_members().len() < 2 {
            p.sleep(Duration::from_millis(10)).await;
        }
        client.actor::<Echo>("warm").add(0).await.unwrap();
        let mut echoes = raw_echo_connections(callers).await;
        let mut handed: Vec<_> = raw_echo_connections(callers)
            .await
            .into_iter()
            .map(handed::Handed::new)
            .collect();
        let (mut ours, mut base, mut lat) = (Vec::new(), Vec::new(), Vec::new());
        let mut with_reader = Vec::new();
        for round in 0..ROUNDS as u64 {
            let t = Instant::now();
            let mut tasks = Vec::new();
            for c in 0..callers {
                let e = client.actor::<Echo>(format!("r{c}"));
                tasks.push(tokio::spawn(async move {
                    let mut lat = Vec::with_capacity(per_round as usize);
                    for i in round * per_round..(round + 1) * per_round {
                        let s = Instant::now();
                        e.add(i).await.unwrap();
                        lat.push(s.elapsed());
                    }
                    lat
                }));
            }
            for t in tasks {
                lat.extend(t.await.unwrap());
            }
            ours.push(t.elapsed());
            let t = Instant::now();
            let tasks: Vec<_> = echoes
                .drain(..)
                .map(|s| tokio::spawn(raw_echo_calls(s, per_round)))
                .collect();
            for t in tasks {
                echoes.push(t.await.unwrap());
            }
            base.push(t.elapsed());
            let t = Instant::now();
            let tasks: Vec<_> = handed
                .drain(..)
                .map(|h| tokio::spawn(handed::calls(h, per_round)))
                .collect();
            for t in tasks {
                handed.push(t.await.unwrap());
            }
            with_reader.push(t.elapsed());
        }
        client.shutdown().await;
        host.shutdown().await;
        (ours, base, with_reader, lat)
    });
    let ratios: Vec<f64> = base
        .iter()
        .zip(&ours)
        .map(|(b, o)| b.as_secs_f64() / o.as_secs_f64())
        .collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (ours, base) = (median(&mut ours), median(&mut base));
    let with_reader = median(&mut with_reader);
    // The usual choice: gRPC (tonic), one HTTP/2 connection shared by
    // every caller, the raw echo's payload.
    let (grpc, mut grpc_lat) = rt.block_on(async {
        let addr = grpc::serve().await;
        let client = grpc::connect(addr).await;
        let t = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let mut client = client.clone();
            tasks.push(tokio::spawn(async move {
                let body = [7u8; 24];
                let mut lat = Vec::with_capacity(per_caller as usize);
                for _ in 0..per_caller {
                    let s = Instant::now();
                    grpc::echo(&mut client, &body).await;
                    lat.push(s.elapsed());
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        (t.elapsed(), lat)
    });
    let rate = |d: Duration, calls: u64| calls as f64 / d.as_secs_f64();
    let (ours, base) = (rate(ours, total), rate(base, total));
    let with_reader = rate(with_reader, total);
    let grpc = rate(grpc, callers as u64 * per_caller);
    let mut lat = lat;
    lat.sort();
    grpc_lat.sort();
    let name = format!("remote ask over loopback, {callers} callers");
    row(&name, ours, base, "calls/s", false);
    println!(
        "{:<52} rounds: moonpool/tokio {lo:.2}x to {hi:.2}x over {ROUNDS} alternated rounds",
        ""
    );
    // What the raw echo becomes when, as in moonpool, a reader task hands
    // each response to its caller.
    row_against("tokio+reader", "", ours, with_reader, "calls/s", false);
    row_against("gRPC", "", ours, grpc, "calls/s", false);
    println!(
        "{:<52} moonpool p50 {:.1} µs, p99 {:.1} µs; gRPC p50 {:.1} µs, p99 {:.1} µs",
        "",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&grpc_lat, 0.50),
        percentile(&grpc_lat, 0.99),
    );
}

/// A raw length-prefixed echo server on loopback and `n` connections to
/// it (no delay, as moonpool's).
async fn raw_echo_connections(n: usize) -> Vec<tokio::net::TcpStream> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut len = [0u8; 4];
                while s.read_exact(&mut len).await.is_ok() {
                    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                    if s.read_exact(&mut body).await.is_err() {
                        break;
                    }
                    let mut out = len.to_vec();
                    out.extend_from_slice(&body);
                    if s.write_all(&out).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        conns.push(s);
    }
    conns
}

/// `calls` sequential echoes of a 24-byte body on `s`; the connection
/// back, for the next round.
async fn raw_echo_calls(mut s: tokio::net::TcpStream, calls: u64) -> tokio::net::TcpStream {
    let body = [7u8; 24];
    for _ in 0..calls {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        s.write_all(&out).await.unwrap();
        let mut back = vec![0u8; out.len()];
        s.read_exact(&mut back).await.unwrap();
    }
    s
}

/// The environment variable that makes this binary measure one side of
/// the memory figure in a fresh process (its resident set is then not
/// blurred by the allocations of earlier workloads).
const MEMORY_PROBE: &str = "MOONPOOL_BENCH_MEMORY_PROBE";

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// In the child process: resident-set growth per idle activation (`ours`)
/// or per idle mpsc task (`tokio`), printed for the parent.
fn memory_probe(which: &str, n: u64) {
    let rt = runtime();
    let per = rt.block_on(async {
        if which == "ours" {
            let node = Node::builder("bench").build().await.unwrap();
            node.actor::<Echo>("warm").add(1).await.unwrap();
            let before = rss_bytes();
            for i in 0..n {
                node.actor::<Echo>(format!("m{i}")).add(1).await.unwrap();
            }
            let after = rss_bytes();
            assert_eq!(node.activation_count() as u64, n + 1);
            (after.saturating_sub(before)) as f64 / n as f64
        } else {
            let mut senders = Vec::with_capacity(n as usize);
            let before = rss_bytes();
            for _ in 0..n {
                let tx = baseline_actor(8);
                baseline_ask(&tx, 1).await;
                senders.push(tx);
            }
            let after = rss_bytes();
            (after.saturating_sub(before)) as f64 / n as f64
        }
    });
    println!("{per}");
}

/// Memory per idle activation (each side measured in a fresh process).
fn memory(n: u64) {
    let probe = |which: &str| -> f64 {
        let exe = std::env::current_exe().expect("the bench binary's path");
        let out = std::process::Command::new(exe)
            .env(MEMORY_PROBE, which)
            .env("MOONPOOL_BENCH_MEMORY_N", n.to_string())
            .output()
            .expect("the memory probe runs");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the memory probe prints a number")
    };
    row(
        &format!("memory per idle activation ({n} actors)"),
        probe("ours"),
        probe("tokio"),
        "bytes",
        true,
    );
}

/// The environment variable that makes this binary run one workload (in
/// a fresh process, so no workload inherits another's heap or runtime).
const WORKLOAD: &str = "MOONPOOL_BENCH_WORKLOAD";

/// The workloads, in the order they run.
const WORKLOADS: [&str; 8] = [
    "local",
    "local-1-thread",
    "activation",
    "activation-1-thread",
    "remote-1",
    "remote-64",
    "memory",
    "traced",
];

/// Runs one workload in this process.
fn run_workload(name: &str) {
    // The 1-thread variants show the CPU cost alone, without hand-offs
    // between threads.
    let single = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    };
    const ONE_THREAD: &str = " (1 thread)";
    match name {
        "local" => local_ask(&runtime(), "", 1_000_000),
        "local-1-thread" => local_ask(&single(), ONE_THREAD, 1_000_000),
        "activation" => activation(&runtime(), "", 100_000),
        "activation-1-thread" => activation(&single(), ONE_THREAD, 100_000),
        "remote-1" => remote(&runtime(), 1, 20_000),
        "remote-64" => remote(&runtime(), 64, 2_000),
        "memory" => memory(100_000),
        "traced" => traced_ask(1_000_000),
        other => eprintln!("unknown workload `{other}`; known: {WORKLOADS:?}"),
    }
}

/// Runs every workload, or those whose name contains one of the
/// command-line filters (`cargo bench -p moonpool --bench actors -- local`),
/// each in a fresh child process.
fn main() {
    if let Ok(which) = std::env::var(MEMORY_PROBE) {
        let n = std::env::var("MOONPOOL_BENCH_MEMORY_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(100_000);
        memory_probe(&which, n);
        return;
    }
    if let Ok(name) = std::env::var(WORKLOAD) {
        run_workload(&name);
        return;
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    println!(
        "moonpool actor benchmarks (release; 2 tokio worker threads unless marked 1 thread)\n"
    );
    let exe = std::env::current_exe().expect("the bench binary's path");
    for name in WORKLOADS {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let status = std::process::Command::new(&exe)
            .env(WORKLOAD, name)
            .status()
            .expect("the workload runs");
        assert!(status.success(), "workload `{name}` failed");
    }
}
