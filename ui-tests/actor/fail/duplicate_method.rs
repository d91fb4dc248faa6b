#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn get(&self) -> u8 {
        1
    }

    pub async fn get(&self) -> u8 {
        2
    }
}

fn main() {}
