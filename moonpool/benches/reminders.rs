//! Durable reminders at scale: 100 000 reminders with a 1 s period on one
//! node, against a plain tokio interval per reminder measured in the same
//! run. Printed: ticks delivered per second, the CPU used (in cores, from
//! the process's CPU time over the window) and the CPU per tick, with
//! moonpool's figure as a multiple of tokio's.
//!
//! `cargo bench -p moonpool --bench reminders`
// A benchmark: wall clock, tokio's timers and spawner, and prints on purpose.
#![allow(
    missing_docs,
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moonpool::prelude::*;
use moonpool::reminder::{InMemoryReminderTable, ReminderEntry, ReminderTable};

/// How many reminders (and baseline intervals).
const REMINDERS: u64 = 100_000;
/// Every reminder's period.
const PERIOD: Duration = Duration::from_secs(1);
/// From the first due time until measuring: every actor activated, every
/// task in its rhythm.
const WARM_UP: Duration = Duration::from_secs(4);
/// How long each side is measured.
const WINDOW: Duration = Duration::from_secs(10);

/// Ticks delivered to [`Beeper`]s.
static TICKS: AtomicU64 = AtomicU64::new(0);

/// The benchmarked actor: counts its reminder's ticks.
#[moonpool::actor(idle_timeout = "1h")]
#[derive(Default)]
pub struct Beeper;

#[moonpool::actor_impl]
impl Beeper {
    /// Nothing (an actor needs a handler to be called).
    pub async fn noop(&self) {}

    async fn on_reminder(&mut self, _ctx: &ActorContext, _tick: ReminderTick) {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// This process's CPU time (user + system), from `/proc/self/stat`.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Linux reports in clock ticks of 1/100 s (USER_HZ) on every common
    // platform.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Ticks per second and cores used over [`WINDOW`], counting `ticks`.
async fn measure(ticks: &AtomicU64) -> (f64, Option<f64>) {
    let (t0, c0, w0) = (ticks.load(Ordering::Relaxed), cpu_time(), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (t1, c1, elapsed) = (ticks.load(Ordering::Relaxed), cpu_time(), w0.elapsed());
    let rate = (t1 - t0) as f64 / elapsed.as_secs_f64();
    let cores = match (c0, c1) {
        (Some(a), Some(b)) => Some((b - a).as_secs_f64() / elapsed.as_secs_f64()),
        _ => None,
    };
    (rate, cores)
}

/// moonpool: the reminders written to the table, then one node firing them.
fn moonpool_side(rt: &tokio::runtime::Runtime) -> (f64, Option<f64>) {
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let table = InMemoryReminderTable::new();
        let first = p.wall_now() + Duration::from_secs(3);
        for i in 0..REMINDERS {
            let entry = ReminderEntry {
                actor: ActorId {
                    type_name: "Beeper".into(),
                    key: i.to_string().into(),
                },
                name: "beep".into(),
                // Spread over the period, as independent reminders are.
                first_due: first + PERIOD * u32::try_from(i).unwrap() / REMINDERS as u32,
                period: PERIOD,
                delivered_through: None,
            };
            table.upsert(&entry, None).await.unwrap();
        }
        let node = Node::builder("bench")
            .providers(p.clone())
            .reminders(table)
            .host::<Beeper>()
            .build()
            .await
            .unwrap();
        while node.reminders_fired_here() < REMINDERS as usize {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let warm = first + WARM_UP;
        tokio::time::sleep(warm - p.wall_now()).await;
        let measured = measure(&TICKS).await;
        node.shutdown().await;
        measured
    })
}

/// The baseline: a tokio task per reminder, ticking on an interval.
fn tokio_side(rt: &tokio::runtime::Runtime) -> (f64, Option<f64>) {
    let ticks = Arc::new(AtomicU64::new(0));
    rt.block_on(async {
        let first = tokio::time::Instant::now() + Duration::from_secs(1);
        let mut tasks = Vec::new();
        for i in 0..REMINDERS {
            let ticks = Arc::clone(&ticks);
            let start = first + PERIOD * u32::try_from(i).unwrap() / REMINDERS as u32;
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval_at(start, PERIOD);
                loop {
                    every.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep_until(first + WARM_UP).await;
        let measured = measure(&ticks).await;
        for t in tasks {
            t.abort();
        }
        measured
    })
}

fn main() {
    println!(
        "{REMINDERS} reminders, period {PERIOD:?}, one node, 2 worker threads; measured over {WINDOW:?} after {WARM_UP:?}"
    );
    let (base_rate, base_cores) = tokio_side(&runtime());
    let (rate, cores) = moonpool_side(&runtime());
    println!(
        "{:<34} moonpool {rate:>10.0} /s   tokio interval {base_rate:>10.0} /s   moonpool/tokio {:>5.2}x (higher is better; {REMINDERS} is on time)",
        "ticks delivered per second",
        rate / base_rate
    );
    match (cores, base_cores) {
        (Some(c), Some(b)) => {
            println!(
                "{:<34} moonpool {c:>10.3}      tokio interval {b:>10.3}      moonpool/tokio {:>5.2}x (lower is better)",
                "CPU used, in cores",
                c / b
            );
            let (per, base_per) = (c / rate * 1e6, b / base_rate * 1e6);
            println!(
                "{:<34} moonpool {per:>10.2} µs   tokio interval {base_per:>10.2} µs   moonpool/tokio {:>5.2}x (lower is better)",
                "CPU per tick",
                per / base_per
            );
        }
        _ => println!("CPU used: not measured (no /proc/self/stat on this system)"),
    }
}
