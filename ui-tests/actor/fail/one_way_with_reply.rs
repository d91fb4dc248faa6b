#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    #[one_way]
    pub async fn fire(&mut self) -> u8 {
        1
    }
}

fn main() {}
