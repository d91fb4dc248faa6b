pub struct NotWire;

#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn give(&self) -> NotWire {
        NotWire
    }
}

fn main() {}
