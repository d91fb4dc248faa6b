#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    async fn on_activate(&self) {}
}

fn main() {}
