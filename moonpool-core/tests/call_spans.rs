//! Calls and turns run in `tracing` spans with the fields people filter
//! on, so a failing seed's log says which call an event belongs to: the
//! caller's `call{actor, method, call, caller}`, the serving node's
//! `serve{caller, call, attempt}`, each `turn{actor, method}`, all under
//! the node's `node{cluster, node}` and the activation's
//! `activation{actor, step}`.
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
        filter: "warn,call_spans=info,moonpool_core::actor=debug,moonpool_core::node=info"
            .to_string(),
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
    let find = |what: &str| {
        lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no line with {what:?} in {lines:#?}"))
    };
    // The caller's side: the call's span numbers it; it left once.
    let sent = find("call sent");
    assert!(sent.contains(" main ["), "{sent}");
    assert!(sent.contains("attempt=1"), "{sent}");
    let call = sent
        .split("call{actor=Teller/alice method=greet call=")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .unwrap_or_else(|| panic!("no call span in {sent}"));
    // The serving side: the host's node, alice's activation, the call by
    // number from the client's node, its first try, then the turn.
    let alice = find("greeting me=alice");
    assert!(alice.contains(" host ["), "{alice}");
    assert!(
        alice.contains("node{cluster=spans node=10.0.0.2:7000}"),
        "{alice}"
    );
    assert!(
        alice.contains("activation{actor=Teller/alice step="),
        "{alice}"
    );
    assert!(alice.contains("serve{caller=10.0.0.1:7000#"), "{alice}");
    assert!(
        alice.contains(&format!(" call={call} attempt=1}}")),
        "{alice}"
    );
    assert!(
        alice.ends_with(" > turn{actor=Teller/alice method=greet}"),
        "{alice}"
    );
    // Bob's turn, called by alice's on the same node: under the local
    // call's span, which names alice as the caller, wherever it ran.
    let bob = find("greeting me=bob");
    assert!(bob.contains(" host ["), "{bob}");
    assert!(
        bob.contains("call{actor=Teller/bob method=greet call="),
        "{bob}"
    );
    assert!(bob.contains(" caller=Teller/alice}"), "{bob}");
    assert!(
        bob.ends_with(" > turn{actor=Teller/bob method=greet}"),
        "{bob}"
    );
    // Membership changes are logged at info in the node's span.
    let joined = find("member joined");
    assert!(joined.contains(" in node{cluster=spans node="), "{joined}");
    // The same seed, the same story.
    assert_eq!(lines, events(11));
}

/// A node built under one subscriber and called under another (a test
/// swapping subscribers, say) traces its activations and turns under the
/// current one: the node's span is not named by an id that subscriber
/// never gave out (which panics in `tracing-subscriber`'s registry).
#[test]
fn a_node_built_under_another_subscriber_is_traced_without_a_panic() {
    let subscriber = |level: &str| {
        tracing::Dispatch::new(
            tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(level))
                .with_writer(std::io::sink)
                .finish(),
        )
    };
    let (info, debug) = (subscriber("info"), subscriber("debug"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = tracing::dispatcher::with_default(&info, || {
        rt.block_on(async { Node::builder("spans").build().await.unwrap() })
    });
    let greeted = tracing::dispatcher::with_default(&debug, || {
        rt.block_on(async {
            // Activated, then called at rest: both run their turn right
            // here, in the activation's span.
            let alice = node.actor::<Teller>("alice");
            alice.greet("bob".to_string()).await.unwrap()
                + alice.greet(String::new()).await.unwrap()
        })
    });
    assert_eq!(greeted, 3);
    rt.block_on(node.shutdown());
}

/// Records the parent of each `activation` span as it is made.
struct ActivationParents(std::sync::Arc<std::sync::Mutex<Vec<Option<String>>>>);

impl<S> tracing_subscriber::Layer<S> for ActivationParents
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "activation" {
            let parent = ctx
                .span(id)
                .and_then(|s| s.parent())
                .map(|p| p.name().to_string());
            self.0.lock().unwrap().push(parent);
        }
    }
}

/// A node whose own span is off (built where nothing traced it) makes its
/// activations' spans roots, not children of whatever span the first
/// caller happened to be in: the activation outlives that call.
#[test]
fn an_untraced_nodes_activation_spans_are_roots() {
    use tracing_subscriber::layer::SubscriberExt;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // No subscriber while it is built: the node's span is off.
    let node = rt.block_on(async { Node::builder("spans").build().await.unwrap() });
    let parents = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let debug = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::DEBUG)
            .with(ActivationParents(std::sync::Arc::clone(&parents))),
    );
    let greeted = tracing::dispatcher::with_default(&debug, || {
        let call = async { node.actor::<Teller>("carol").greet(String::new()).await };
        rt.block_on(tracing::Instrument::instrument(
            call,
            tracing::info_span!("outer"),
        ))
        .unwrap()
    });
    assert_eq!(greeted, 1);
    let parents = parents.lock().unwrap().clone();
    assert!(!parents.is_empty(), "the activation was traced");
    assert!(
        parents.iter().all(Option::is_none),
        "activation spans with a parent: {parents:?}"
    );
    rt.block_on(node.shutdown());
}
