#[derive(Clone)]
pub struct NotWire;

#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn take(&self, value: NotWire) {
        let _ = value;
    }
}

fn main() {}
