//! What a node records through the `metrics` facade for a known workload:
//! calls by type, method and outcome with their latency, activations
//! live, created and deactivated, messages queued behind a running turn,
//! frames, connections and reconnects, membership changes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use moonpool::prelude::*;
use moonpool::runtime::metrics as names;
use moonpool::runtime::node::InMemoryMembership;
use moonpool::sim::Simulation;
use moonpool::sim::chaos::FaultConfig;

/// Counts; `fail` panics.
#[moonpool::actor(idle_timeout = "2s")]
#[derive(Default)]
pub struct Tally {
    n: u64,
}

#[moonpool::actor_impl]
impl Tally {
    /// Adds one.
    pub async fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    /// Panics.
    pub async fn fail(&self) -> u64 {
        panic!("asked to fail")
    }

    /// Adds one after a pause, so calls arriving meanwhile queue.
    pub async fn slow_bump(&mut self, ctx: &ActorContext) -> u64 {
        ctx.providers().sleep(Duration::from_millis(10)).await;
        self.n += 1;
        self.n
    }
}

/// Every metric recorded, by name and sorted labels.
type Recorded = BTreeMap<(String, Vec<(String, String)>), DebugValue>;

/// The workload: 30 calls to three actors, one that panics, one to a
/// fourth and then four at once to it (three of them queue behind the
/// running turn), then idle until all leave; with
/// `restart`, host 0 is restarted once the calls are done.
fn run_workload(metrics_on_client: bool, restart: bool) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        Simulation::new(5)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let m = InMemoryMembership::new();
                let mut hosts = Vec::new();
                for i in 0..2u8 {
                    let m = m.clone();
                    hosts.push(sim.start_process(format!("host-{i}"), move |p: Providers| {
                        let m = m.clone();
                        async move {
                            let node = Node::builder("metrics")
                                .listen("0.0.0.0:7000".parse().unwrap())
                                .providers(p)
                                .membership(m)
                                .host::<Tally>()
                                .metrics(true)
                                .build()
                                .await
                                .unwrap();
                            std::future::pending::<()>().await;
                            drop(node);
                        }
                    }));
                }
                let client = Node::builder("metrics")
                    .listen("10.0.0.1:7000".parse().unwrap())
                    .providers(sim.providers())
                    .membership(m)
                    .client_only()
                    .metrics(metrics_on_client)
                    .build()
                    .await
                    .unwrap();
                while client.live_members().len() < 3 {
                    sim.sleep(Duration::from_millis(50)).await;
                }
                for key in ["a", "b", "c"] {
                    for _ in 0..10 {
                        client.actor::<Tally>(key).bump().await.unwrap();
                    }
                }
                assert!(client.actor::<Tally>("a").fail().await.is_err());
                let q = client.actor::<Tally>("q");
                // Active first: what queues behind a running turn is
                // sampled, not what waits for the activation.
                q.bump().await.unwrap();
                let (one, two, three, four) =
                    tokio::join!(q.slow_bump(), q.slow_bump(), q.slow_bump(), q.slow_bump());
                for r in [one, two, three, four] {
                    r.unwrap();
                }
                if restart {
                    sim.restart_process(hosts[0]).unwrap();
                    // Back in the cluster: its peers have dialed it again.
                    sim.sleep(Duration::from_secs(3)).await;
                    while client.live_members().len() < 3 {
                        sim.sleep(Duration::from_millis(50)).await;
                    }
                    for key in ["a", "b", "c"] {
                        client.actor::<Tally>(key).bump().await.unwrap();
                    }
                }
                // Idle for longer than the idle timeout: all three leave.
                sim.sleep(Duration::from_secs(5)).await;
            })
            .unwrap();
    });
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            ((key.name().to_string(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    v.sort();
    v
}

fn counter(recorded: &Recorded, name: &str, with: &[(&str, &str)]) -> u64 {
    match recorded.get(&(name.to_string(), labels(with))) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        Some(other) => panic!("{name} is not a counter: {other:?}"),
    }
}

#[test]
fn a_known_workload_records_the_expected_counts() {
    let recorded = run_workload(true, false);
    // The methods' wire names, as the generated code spells them.
    let method = |m: &str| -> String {
        recorded
            .keys()
            .filter(|(name, _)| name == names::CALLS)
            .flat_map(|(_, l)| l.iter())
            .find(|(k, v)| k == "method" && v.contains(m))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no call of {m} recorded: {recorded:#?}"))
    };
    let (bump_name, fail_name) = (method("bump"), method("fail"));
    assert_eq!(
        counter(
            &recorded,
            names::CALLS,
            &[
                ("actor_type", "Tally"),
                ("method", &bump_name),
                ("outcome", "ok")
            ]
        ),
        31
    );
    assert_eq!(
        counter(
            &recorded,
            names::CALLS,
            &[
                ("actor_type", "Tally"),
                ("method", &fail_name),
                ("outcome", "handler_panicked")
            ]
        ),
        1
    );
    match recorded.get(&(
        names::CALL_DURATION.to_string(),
        labels(&[("actor_type", "Tally"), ("method", &bump_name)]),
    )) {
        Some(DebugValue::Histogram(samples)) => {
            assert_eq!(samples.len(), 31);
            assert!(
                samples
                    .iter()
                    .all(|s| s.into_inner() > 0.0 && s.into_inner() < 1.0)
            );
        }
        other => panic!("no latency histogram: {other:?}"),
    }
    let tally = [("actor_type", "Tally")];
    assert_eq!(counter(&recorded, names::ACTIVATIONS_CREATED, &tally), 4);
    assert_eq!(
        counter(&recorded, names::ACTIVATIONS_DEACTIVATED, &tally),
        4
    );
    // Four calls at once to `q`, whose turn waits: the three behind the
    // first queued, one at a time (the histogram's samples are the queue
    // lengths they saw, 1 to 3).
    match recorded.get(&(names::QUEUE_LENGTH.to_string(), Vec::new())) {
        Some(DebugValue::Histogram(samples)) => {
            let mut seen: Vec<f64> = samples.iter().map(|s| s.into_inner()).collect();
            seen.sort_by(f64::total_cmp);
            assert!(seen.len() >= 3, "{seen:?}");
            assert!(seen.iter().all(|&n| (1.0..=3.0).contains(&n)), "{seen:?}");
            assert!(seen.last().is_some_and(|&n| n >= 2.0), "{seen:?}");
        }
        other => panic!("no queue-length histogram: {other:?}"),
    }
    match recorded.get(&(names::ACTIVATIONS.to_string(), labels(&tally))) {
        Some(DebugValue::Gauge(live)) => assert_eq!(live.into_inner(), 0.0),
        other => panic!("no activation gauge: {other:?}"),
    }
    // 36 calls crossed the network, each a request and an answer, beside
    // the membership and probe traffic.
    assert!(counter(&recorded, names::FRAMES_SENT, &[]) >= 62);
    assert!(counter(&recorded, names::FRAMES_RECEIVED, &[]) >= 62);
    assert!(
        counter(&recorded, names::BYTES_SENT, &[]) > counter(&recorded, names::FRAMES_SENT, &[])
    );
    // The client dialed both hosts (and they each other): calm network,
    // no reconnects.
    let connections = counter(&recorded, names::CONNECTIONS, &[]);
    assert!((4..=8).contains(&connections), "{connections} connections");
    assert_eq!(counter(&recorded, names::RECONNECTS, &[]), 0);
    // Each node saw the three members join, once each: a member's row
    // read again unchanged is no change.
    assert_eq!(
        counter(&recorded, names::MEMBERSHIP_CHANGES, &[("status", "alive")]),
        9
    );

    // A client node without metrics records no call.
    let quiet = run_workload(false, false);
    assert!(
        quiet.keys().all(|(name, _)| name != names::CALLS),
        "{quiet:#?}"
    );
    assert_eq!(counter(&quiet, names::ACTIVATIONS_CREATED, &tally), 4);
}

#[test]
fn a_restarted_peer_is_counted_as_a_reconnect() {
    let recorded = run_workload(true, true);
    // The client and the other host had connections to host 0 and made
    // new ones to its next incarnation.
    let reconnects = counter(&recorded, names::RECONNECTS, &[]);
    assert!(reconnects >= 2, "{reconnects} reconnects");
}
