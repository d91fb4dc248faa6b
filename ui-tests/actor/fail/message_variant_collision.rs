// `get_x` and `get__x` would both be the variant `AMessage::GetX`.
#[moonpool::actor]
#[derive(Default)]
pub struct A;

#[moonpool::actor_impl]
impl A {
    pub async fn get_x(&self) {}

    pub async fn get__x(&self) {}
}

fn main() {}
