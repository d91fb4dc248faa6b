//! A turn serving a call from another node runs in a `tracing` span
//! naming the actor and the method, so a failing seed's log says which
//! call an event belongs to.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::node::InMemoryMembership;
use moonpool::sim::Simulation;
use moonpool::sim::log::{LogConfig, capture};

/// Greets, and asks a friend to greet too.
#[moonpool::actor]
#[derive(Default)]
pub struct Teller;

#[moonpool::actor_impl]
impl Teller {
    /// Logs, then (if `friend` is not empty) calls `friend`'s `greet`.
    pub async fn greet(&self, ctx: &ActorContext, friend: String) -> u32 {
        tracing::info!(me = %ctx.id().key, "greeting");
        if friend.is_empty() {
            return 1;
        }
        1 + ctx
            .actor::<Teller>(friend)
            .greet(String::new())
            .await
            .unwrap_or(0)
    }
}

fn events(seed: u64) -> Vec<String> {
    let config = LogConfig {
        filter: "warn,call_spans=info,moonpool_core::actor=debug".to_string(),
        lines: 1000,
        file: None,
    };
    let (report, log) = capture(seed, &config, || {
        Simulation::new(seed).run(|sim| async move {
            let membership = InMemoryMembership::new();
            let host = {
                let m = membership.clone();
                sim.start_process("host", move |p: Providers| {
                    let m = m.clone();
                    async move {
                        let node = Node::builder("spans")
                            .listen("0.0.0.0:7000".parse().unwrap())
                            .providers(p)
                            .membership(m)
                            .host::<Teller>()
                            .build()
                            .await
                            .unwrap();
                        std::future::pending::<()>().await;
                        drop(node);
                    }
                })
            };
            let _ = host;
            let client = Node::builder("spans")
                .listen("10.0.0.1:7000".parse().unwrap())
                .providers(sim.providers())
                .membership(membership)
                .client_only()
                .build()
                .await
                .unwrap();
            while client.live_members().len() < 2 {
                sim.sleep(Duration::from_millis(50)).await;
            }
            let greeted = client
                .actor::<Teller>("alice")
                .greet("bob".to_string())
                .await
                .unwrap();
            assert_eq!(greeted, 2);
        })
    })
    .unwrap();
    report.unwrap();
    log.last
}

#[test]
fn a_remote_call_s_turn_names_its_actor_and_method() {
    let lines = events(11);
    let alice = lines
        .iter()
        .find(|l| l.contains("greeting me=alice"))
        .expect("alice's greeting was logged");
    // A remote call: the turn runs on the host, in a span of its own.
    assert!(alice.contains(" host ["), "{alice}");
    assert!(
        alice.contains(" in turn{actor=Teller/alice method="),
        "{alice}"
    );
    // Bob's turn, called by alice's on the same node, ran as a local
    // call: inside alice's turn when it ran in her task.
    let bob = lines
        .iter()
        .find(|l| l.contains("greeting me=bob"))
        .expect("bob's greeting was logged");
    assert!(bob.contains(" host ["), "{bob}");
    // The same seed, the same story.
    assert_eq!(lines, events(11));
}
