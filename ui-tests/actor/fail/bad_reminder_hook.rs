use moonpool::ActorContext;

#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    // The tick is missing, and the hook takes `&self`.
    async fn on_reminder(&self, ctx: &ActorContext) {}
}

fn main() {}
