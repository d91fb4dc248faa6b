#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    #[reentrant]
    pub async fn change(&mut self) {}
}

fn main() {}
