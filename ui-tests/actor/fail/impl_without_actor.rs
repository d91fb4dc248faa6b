#[derive(Default)]
pub struct NotAnActor;

#[moonpool::actor_impl]
impl NotAnActor {
    pub async fn get(&self) -> u8 {
        1
    }
}

fn main() {}
