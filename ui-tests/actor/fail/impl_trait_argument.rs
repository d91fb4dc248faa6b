#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn greet(&self, name: impl Into<String>) -> String {
        name.into()
    }
}

fn main() {}
