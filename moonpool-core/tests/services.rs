//! Services for actors: a node is given values at build time and its
//! actors reach them by type, in a simulation as on tokio; a missing one
//! fails the activation with words naming the type.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::actor::ServiceError;
use moonpool::runtime::node::{InMemoryMembership, NodeBuilder};
use moonpool::sim::Simulation;

/// The application's counter of greetings, shared with the test.
#[derive(Default)]
pub struct Audit {
    greetings: AtomicU64,
}

/// Settings.
pub struct Greeting(String);

/// Greets with the node's greeting.
#[moonpool::actor]
#[derive(Default)]
pub struct Greeter {
    greeting: String,
}

#[moonpool::actor_impl]
impl Greeter {
    async fn on_activate(&mut self, ctx: &ActorContext) -> Result<(), ServiceError> {
        self.greeting = ctx.service::<Greeting>()?.0.clone();
        Ok(())
    }

    /// Greets, and counts it in the node's audit service.
    pub async fn greet(&self, ctx: &ActorContext, name: String) -> Result<String, String> {
        let audit = ctx.service::<Audit>().map_err(|e| e.to_string())?;
        audit.greetings.fetch_add(1, Ordering::Relaxed);
        Ok(format!("{}, {name}", self.greeting))
    }
}

/// A node hosting `Greeter`, given what `services` adds.
async fn node(sim: &SimContext, services: impl FnOnce(NodeBuilder) -> NodeBuilder) -> Node {
    let builder = Node::builder("services")
        .listen("10.0.0.1:7000".parse().unwrap())
        .providers(sim.providers())
        .membership(InMemoryMembership::new())
        .host::<Greeter>();
    services(builder).build().await.unwrap()
}

#[test]
fn actors_reach_their_node_s_services_by_type() {
    Simulation::new(3)
        .run(|sim| async move {
            let audit = Arc::new(Audit::default());
            let shared = Arc::clone(&audit);
            let node = node(&sim, |b| {
                b.service(Greeting("Hello".to_string())).service_arc(shared)
            })
            .await;
            for name in ["Ada", "Grace"] {
                let hi = node.actor::<Greeter>(name).greet(name.to_string()).await;
                assert_eq!(hi.unwrap(), Ok(format!("Hello, {name}")));
            }
            assert_eq!(audit.greetings.load(Ordering::Relaxed), 2);
            node.shutdown().await;
        })
        .unwrap();
}

#[test]
fn a_missing_service_fails_the_activation_naming_its_type() {
    Simulation::new(4)
        .run(|sim| async move {
            let node = node(&sim, |b| b.service(Arc::new(Audit::default()))).await;
            let err = node
                .actor::<Greeter>("Ada")
                .greet("Ada".to_string())
                .await
                .unwrap_err();
            let CallError::ActivationFailed { reason, .. } = &err else {
                panic!("not an activation failure: {err:?}");
            };
            assert!(reason.contains("services::Greeting"), "{reason}");
            assert!(reason.contains("NodeBuilder::service"), "{reason}");
            sim.sleep(Duration::from_millis(10)).await;
            node.shutdown().await;
        })
        .unwrap();
}

#[test]
fn a_service_of_another_type_is_not_found() {
    // `Arc<Audit>` given by value is a service of type `Arc<Audit>`, not
    // `Audit`: the handler's lookup says which type it missed.
    Simulation::new(5)
        .run(|sim| async move {
            let node = node(&sim, |b| {
                b.service(Greeting("Hi".to_string()))
                    .service(Arc::new(Audit::default()))
            })
            .await;
            let answer = node
                .actor::<Greeter>("Ada")
                .greet("Ada".to_string())
                .await
                .unwrap();
            let missing = answer.unwrap_err();
            assert!(missing.contains("`services::Audit`"), "{missing}");
            node.shutdown().await;
        })
        .unwrap();
}
