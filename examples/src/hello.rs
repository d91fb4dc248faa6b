//! The greeter of `hello_actor`: a virtual actor that remembers how many
//! times it greeted, and says which node it lives on.

use moonpool::prelude::*;

/// Greets people; one activation per name, somewhere in the cluster.
#[moonpool::actor(placement = "random", idle_timeout = "5m")]
#[derive(Default)]
pub struct Greeter {
    greeted: u32,
}

#[moonpool::actor_impl]
impl Greeter {
    /// Greets the greeter's key, counting greetings of this activation.
    pub async fn greet(&mut self, ctx: &ActorContext) -> Greeting {
        self.greeted += 1;
        Greeting {
            text: format!("Hello, {}!", ctx.id().key),
            count: self.greeted,
            node: ctx
                .node()
                .map(|n| n.id().addr.to_string())
                .unwrap_or_default(),
        }
    }
}

/// What a greeter answers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Greeting {
    /// The greeting.
    pub text: String,
    /// How many times this activation greeted.
    pub count: u32,
    /// The address of the node hosting the activation.
    pub node: String,
}
