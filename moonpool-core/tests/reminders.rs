//! Durable reminders under simulation: three nodes fire the reminders of
//! their slices of the ring while they crash and restart, links partition
//! and nodes are cut off. Checked during the run: no tick comes early,
//! and every due time is delivered within a bound of it. At the end:
//! every due time delivered at least once and a bounded number of times,
//! removed and replaced schedules stop, and actors that went idle between
//! ticks were woken by the next one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::reminder::{InMemoryReminderTable, ReminderError, ReminderTick};
use moonpool::runtime::node::InMemoryMembership;

/// A due time must be delivered within this of it, whatever crashed:
/// failure detection (4 missed probes of 500 ms), the lease and the
/// placement hold after a death, and a probe interval for the new owner to
/// read its slice, with room for retries through faults.
const BOUND: Duration = Duration::from_secs(20);

/// How far apart two nodes' wall clocks may be (the `clock_skew` fault
/// family): a node fires a tick when *its* clock reaches the due time, so
/// in true time a tick may come this much before its due time, and this
/// much later than the bound.
/// (A wall time counts whole milliseconds: one more.)
fn skew() -> Duration {
    moonpool::sim::ClockConfig::default().max_wall_offset + Duration::from_millis(1)
}

/// How many times one due time may be delivered (each crash of its owner
/// between delivering and recording may repeat it once).
const MAX_DELIVERIES: usize = 4;

/// One delivered tick.
#[derive(Clone, Debug)]
struct Delivered {
    actor: String,
    name: String,
    due: WallTime,
    at: WallTime,
}

/// A reminder's schedule as registered, and until when it held.
#[derive(Clone, Debug)]
struct Schedule {
    actor: String,
    name: String,
    first_due: WallTime,
    period: Duration,
    /// When it was removed or replaced (`None`: it still holds).
    until: Option<WallTime>,
    /// Due times up to here were checked by the invariant.
    checked_through: Option<WallTime>,
}

impl Schedule {
    /// Whether due time `due` must have been delivered by `now`: its bound
    /// has passed, and it passed while the schedule held (a schedule
    /// removed or replaced drops the due times it had not delivered yet).
    fn must_be_delivered(&self, due: WallTime, now: WallTime) -> bool {
        let cut = self.until.map_or(now, |u| u.min(now));
        due + BOUND <= cut
    }

    fn dues_until(&self, end: WallTime) -> impl Iterator<Item = WallTime> + '_ {
        (0..)
            .map(move |k| self.first_due + self.period * k)
            .take_while(move |d| *d <= end)
    }
}

#[derive(Default)]
struct Log {
    ticks: Vec<Delivered>,
    activations: BTreeMap<String, u32>,
    /// The simulation, to read true time from inside actors (each node
    /// reads its own clock, which may be off).
    truth: Option<SimContext>,
}

/// True wall time: what the test checks against (the client node and the
/// checks run in the simulation's main process, whose clock is true).
fn true_wall() -> WallTime {
    LOG.with(|l| {
        let l = l.borrow();
        let sim = l.truth.as_ref().expect("the test set the simulation");
        WallTime::SIMULATION_EPOCH + sim.now().since_epoch()
    })
}

thread_local! {
    // One simulation per thread: the seed's log.
    static LOG: RefCell<Log> = RefCell::default();
}

#[moonpool::actor(idle_timeout = "1s")]
#[derive(Default)]
/// Records its ticks and activations in the seed's log.
pub struct Alarm;

#[moonpool::actor_impl]
impl Alarm {
    /// Answers (to check the actor is reachable).
    pub async fn ping(&self) -> bool {
        true
    }

    async fn on_activate(&mut self, ctx: &ActorContext) {
        let key = ctx.id().key.to_string();
        LOG.with(|l| {
            let mut l = l.borrow_mut();
            let woken_by_tick = l.ticks.iter().any(|t| t.actor == key);
            *l.activations.entry(key).or_default() += 1;
            moonpool::sometimes!(
                woken_by_tick,
                "an actor that went idle between ticks is activated again"
            );
        });
    }

    async fn on_reminder(&mut self, ctx: &ActorContext, tick: ReminderTick) {
        let at = true_wall();
        // Fired when the firing node's clock reached the due time.
        moonpool::always!(
            at + skew() >= tick.due,
            "a reminder tick never comes before its due time (by the firing node's clock)"
        );
        LOG.with(|l| {
            l.borrow_mut().ticks.push(Delivered {
                actor: ctx.id().key.to_string(),
                name: tick.name.clone(),
                due: tick.due,
                at,
            })
        });
    }
}

/// Times `due` of (`actor`, `name`) was delivered, and the earliest.
fn deliveries(log: &Log, actor: &str, name: &str, due: WallTime) -> (usize, Option<WallTime>) {
    let mut n = 0;
    let mut first: Option<WallTime> = None;
    for t in log
        .ticks
        .iter()
        .filter(|t| t.actor == actor && t.name == name && t.due == due)
    {
        n += 1;
        first = Some(first.map_or(t.at, |f| f.min(t.at)));
    }
    (n, first)
}

/// Registers through `client`, trying again through faults.
async fn register(
    sim: &SimContext,
    client: &Node,
    actor: &str,
    name: &str,
    due: Duration,
    period: Duration,
) -> Schedule {
    loop {
        match client
            .register_reminder::<Alarm>(actor, name, due, period)
            .await
        {
            Ok(r) => {
                return Schedule {
                    actor: actor.to_string(),
                    name: name.to_string(),
                    first_due: r.first_due,
                    period: r.period,
                    until: None,
                    checked_through: None,
                };
            }
            Err(e) if e.is_transient() => sim.sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("registration refused: {e}"),
        }
    }
}

type Running = Arc<Mutex<BTreeMap<usize, Node>>>;

fn start_nodes(
    sim: &SimContext,
    membership: &InMemoryMembership,
    table: &InMemoryReminderTable,
    running: &Running,
) -> Vec<ProcessId> {
    (0..3)
        .map(|i| {
            let (membership, table, running) =
                (membership.clone(), table.clone(), Arc::clone(running));
            sim.start_process(format!("node-{i}"), move |p: Providers| {
                let (membership, table, running) =
                    (membership.clone(), table.clone(), Arc::clone(&running));
                async move {
                    let node = Node::builder("reminders")
                        .listen(SocketAddr::new([0, 0, 0, 0].into(), 7000))
                        .providers(p)
                        .membership(membership)
                        .reminders(table)
                        .host::<Alarm>()
                        .call_timeout(Duration::from_secs(3))
                        .failure_detection(
                            Duration::from_millis(500),
                            Duration::from_millis(500),
                            4,
                        )
                        .build()
                        .await
                        .expect("node starts");
                    running.lock().unwrap().insert(i, node.clone());
                    std::future::pending::<()>().await;
                    drop(node);
                }
            })
        })
        .collect()
}

/// Restarts what crashed or fenced itself.
fn restart_the_fallen(sim: &SimContext, pids: &[ProcessId], running: &Running) {
    for (i, pid) in pids.iter().enumerate() {
        let fenced = running
            .lock()
            .unwrap()
            .get(&i)
            .is_some_and(|n| n.is_stopped());
        if !sim.is_alive(*pid) || fenced {
            let _ = sim.kill_process(*pid);
            sim.restart_process(*pid).unwrap();
        }
    }
}

/// Checks, after every step, that every due time of every schedule that
/// held then was delivered within [`BOUND`].
fn deliver_within_bound(sim: &SimContext, schedules: Arc<Mutex<Vec<Schedule>>>) {
    let p = sim.providers();
    sim.invariant("every due time is delivered within the bound", move || {
        let now = p.wall_now();
        let mut schedules = schedules.lock().unwrap();
        LOG.with(|l| {
            let log = l.borrow();
            for s in schedules.iter_mut() {
                let from = s.checked_through;
                let dues: Vec<WallTime> = s
                    .dues_until(now)
                    .filter(|d| from.is_none_or(|f| *d > f) && s.must_be_delivered(*d, now))
                    .collect();
                for due in dues {
                    match deliveries(&log, &s.actor, &s.name, due) {
                        (0, _) => {
                            return Err(format!(
                                "{}/{} due {due} not delivered by {now}",
                                s.actor, s.name
                            ));
                        }
                        (_, Some(at)) if at > due + BOUND + skew() => {
                            return Err(format!(
                                "{}/{} due {due} first delivered at {at}, later than {BOUND:?} after it",
                                s.actor, s.name
                            ));
                        }
                        _ => {}
                    }
                    s.checked_through = Some(due);
                }
            }
            Ok(())
        })
    });
}

#[moonpool::sim_test(
    seeds = 500,
    coverage = "strict",
    coverage_of = [
        "reminders",
        "moonpool_core::node::reminders",
        "moonpool_core::node::reminder_firing",
        "moonpool_core::actor::reminders"
    ]
)]
async fn reminders_fire_every_due_time_across_crashes_and_partitions(sim: SimContext) {
    LOG.with(|l| {
        *l.borrow_mut() = Log {
            truth: Some(sim.clone()),
            ..Log::default()
        }
    });
    let membership = InMemoryMembership::new();
    let table = InMemoryReminderTable::new();
    let running: Running = Arc::default();
    let pids = start_nodes(&sim, &membership, &table, &running);
    let p = sim.providers();
    let client = Node::builder("reminders")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(p.clone())
        .membership(membership.clone())
        .reminders(table.clone())
        .client_only()
        .call_timeout(Duration::from_secs(3))
        .build()
        .await
        .unwrap();
    while client.live_members().len() < 4 {
        sim.sleep(Duration::from_millis(50)).await;
    }

    let schedules: Arc<Mutex<Vec<Schedule>>> = Arc::default();
    deliver_within_bound(&sim, Arc::clone(&schedules));
    for k in 0..5 {
        for name in ["a", "b"].iter().take(1 + p.random_below(2) as usize) {
            let due = Duration::from_millis(p.random_below(3_000));
            let period = Duration::from_secs(1 + p.random_below(4));
            let s = register(&sim, &client, &format!("alarm-{k}"), name, due, period).await;
            schedules.lock().unwrap().push(s);
        }
    }

    // The nemesis; halfway, one reminder is removed and one replaced.
    for round in 0..8 {
        sim.sleep(p.random_duration(Duration::from_secs(1), Duration::from_secs(4)))
            .await;
        if round == 4 {
            change_schedules(&sim, &client, &schedules).await;
        }
        match p.random_below(4) {
            0 => {
                let victim = pids[p.random_below(3) as usize];
                if sim.is_alive(victim) {
                    sim.kill_process(victim).unwrap();
                    moonpool::sometimes!(true, "a node firing reminders crashed");
                    sim.sleep(
                        p.random_duration(Duration::from_millis(100), Duration::from_secs(5)),
                    )
                    .await;
                    sim.restart_process(victim).unwrap();
                }
            }
            1 => {
                let (a, b) = (pids[0], pids[1 + p.random_below(2) as usize]);
                sim.partition(a, b);
                sim.sleep(p.random_duration(Duration::from_millis(100), Duration::from_secs(3)))
                    .await;
                sim.heal(a, b);
            }
            2 => {
                let victim = pids[p.random_below(3) as usize];
                sim.isolate(victim);
                moonpool::sometimes!(true, "a node firing reminders was cut off");
                sim.sleep(p.random_duration(Duration::from_secs(1), Duration::from_secs(5)))
                    .await;
                sim.heal_all();
            }
            _ => {}
        }
        restart_the_fallen(&sim, &pids, &running);
    }
    sim.heal_all();
    // Let the cluster settle: the fallen restart, every due time so far
    // reaches its actor.
    for _ in 0..10 {
        restart_the_fallen(&sim, &pids, &running);
        sim.sleep(Duration::from_secs(3)).await;
    }
    check_the_log(&p, &schedules.lock().unwrap());
}

/// Removes one reminder and replaces another's schedule, noting when.
async fn change_schedules(sim: &SimContext, client: &Node, schedules: &Arc<Mutex<Vec<Schedule>>>) {
    let p = sim.providers();
    let (removed, replaced) = {
        let s = schedules.lock().unwrap();
        (s[0].clone(), s[s.len() - 1].clone())
    };
    loop {
        match client
            .unregister_reminder::<Alarm>(removed.actor.as_str(), &removed.name)
            .await
        {
            Ok(existed) => {
                assert!(existed, "the reminder to remove exists");
                break;
            }
            Err(ReminderError::Unavailable { .. } | ReminderError::Conflict { .. }) => {
                sim.sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("removal refused: {e}"),
        }
    }
    let now = p.wall_now();
    schedules.lock().unwrap()[0].until = Some(now);
    let period = replaced.period + Duration::from_secs(1);
    let new = register(
        sim,
        client,
        &replaced.actor,
        &replaced.name,
        Duration::ZERO,
        period,
    )
    .await;
    let mut s = schedules.lock().unwrap();
    let last = s.len() - 1;
    s[last].until = Some(p.wall_now());
    s.push(new);
}

/// At the end: every due time up to the end delivered, a bounded number
/// of times; removed and replaced schedules stopped.
fn check_the_log(p: &Providers, schedules: &[Schedule]) {
    let now = p.wall_now();
    LOG.with(|l| {
        let log = l.borrow();
        for s in schedules {
            for due in s.dues_until(now).filter(|d| s.must_be_delivered(*d, now)) {
                let (n, _) = deliveries(&log, &s.actor, &s.name, due);
                assert!(n >= 1, "{}/{} due {due} never delivered", s.actor, s.name);
                assert!(
                    n <= MAX_DELIVERIES,
                    "{}/{} due {due} delivered {n} times",
                    s.actor,
                    s.name
                );
                moonpool::sometimes!(n > 1, "a due time is delivered again after a crash");
            }
            if let Some(u) = s.until {
                // Removed or replaced: at most the tick under way when it
                // happened is delivered after. A node whose clock runs
                // ahead fires a due time up to the skew before it (in true
                // time): those due within the skew after `u` may have
                // fired before the removal.
                let after: std::collections::BTreeSet<WallTime> = log
                    .ticks
                    .iter()
                    .filter(|t| t.actor == s.actor && t.name == s.name && t.due > u + skew())
                    .filter(|t| {
                        // The replacing schedule's own due times.
                        !schedules.iter().any(|o| {
                            o.until.is_none()
                                && o.actor == s.actor
                                && o.name == s.name
                                && o.dues_until(t.due).any(|d| d == t.due)
                        })
                    })
                    .map(|t| t.due)
                    .collect();
                assert!(
                    after.len() <= 1,
                    "{}/{} kept ticking after it was removed at {u}: {after:?}",
                    s.actor,
                    s.name
                );
            }
        }
        let reactivated = log.activations.values().any(|n| *n > 1);
        assert!(
            reactivated,
            "no actor was woken again by a tick: {:?}",
            log.activations
        );
    });
}
