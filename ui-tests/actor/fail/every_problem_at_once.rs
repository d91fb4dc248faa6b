#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub fn not_async(&self) {}

    pub async fn by_ref(&self, s: &String) {}

    pub async fn by_value(self) {}
}

fn main() {}
