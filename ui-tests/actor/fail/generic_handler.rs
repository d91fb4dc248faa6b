#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn echo<T: Clone>(&self, value: T) -> T {
        value
    }
}

fn main() {}
