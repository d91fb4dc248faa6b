#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn sum(&self, (a, b): (u8, u8)) -> u8 {
        a + b
    }
}

fn main() {}
