#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl Clone for A {
    fn clone(&self) -> Self {
        A
    }
}

fn main() {}
