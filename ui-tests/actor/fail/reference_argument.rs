#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn greet(&self, name: &str) -> String {
        name.to_string()
    }
}

fn main() {}
