use moonpool::ActorContext;

#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    async fn on_reminder(&mut self, _ctx: &ActorContext, _tick: String) {}
}

fn main() {}
